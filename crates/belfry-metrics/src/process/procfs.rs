//! Parsers for the few `/proc` files the process metrics need. Each returns `None` for a value it
//! cannot find or parse, and never panics, whatever the content.

/// The fields of `/proc/self/stat` the metrics use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Stat {
    /// User plus system CPU time, in clock ticks.
    pub(crate) cpu_ticks: u64,
    /// Start time after boot, in clock ticks.
    pub(crate) start_ticks: u64,
    pub(crate) virtual_bytes: u64,
    pub(crate) resident_pages: u64,
}

/// Parses `/proc/[pid]/stat`. The command name (field 2) is in parentheses and may itself contain
/// spaces and parentheses, so fields are counted from the last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<Stat> {
    let after_command = text.get(text.rfind(')')? + 1..)?;
    // Field 3 (state) is the first one after the command name; see proc_pid_stat(5).
    let fields: Vec<&str> = after_command.split_whitespace().collect();
    let field = |number: usize| -> Option<u64> { fields.get(number - 3)?.parse().ok() };
    let (user, system) = (field(14)?, field(15)?);
    let (start_ticks, virtual_bytes, resident_pages) = (field(22)?, field(23)?, field(24)?);
    Some(Stat {
        cpu_ticks: user.checked_add(system)?,
        start_ticks,
        virtual_bytes,
        resident_pages,
    })
}

/// Page size and clock ticks per second, from the kernel's auxiliary vector
/// (`/proc/self/auxv`: pairs of native-endian machine words).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Auxv {
    pub(crate) page_size: Option<u64>,
    pub(crate) clock_ticks: Option<u64>,
}

const AT_PAGESZ: u64 = 6;
const AT_CLKTCK: u64 = 17;

pub(crate) fn parse_auxv(bytes: &[u8]) -> Auxv {
    const WORD: usize = std::mem::size_of::<usize>();
    let word = |bytes: &[u8]| -> u64 {
        let mut native = [0u8; WORD];
        native.copy_from_slice(bytes);
        usize::from_ne_bytes(native) as u64
    };
    let mut auxv = Auxv::default();
    for pair in bytes.chunks_exact(2 * WORD) {
        let (key, value) = pair.split_at(WORD);
        match word(key) {
            AT_PAGESZ => auxv.page_size = Some(word(value)).filter(|size| *size > 0),
            AT_CLKTCK => auxv.clock_ticks = Some(word(value)).filter(|ticks| *ticks > 0),
            _ => {}
        }
    }
    auxv
}

/// The soft limit of `Max open files` in `/proc/[pid]/limits`; `None` when unlimited.
pub(crate) fn parse_max_open_files(text: &str) -> Option<u64> {
    let line = text
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// Boot time (seconds since the epoch) from the `btime` line of `/proc/stat`.
pub(crate) fn parse_boot_time(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|line| line.strip_prefix("btime "))?;
    line.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAT: &str = "1234 (my (odd) name) S 1 1234 1234 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 \
                        8 0 123456 987654321 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1";

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let stat = parse_stat(STAT).unwrap();
        assert_eq!(
            stat,
            Stat {
                cpu_ticks: 300,
                start_ticks: 123456,
                virtual_bytes: 987654321,
                resident_pages: 2048,
            }
        );
    }

    #[test]
    fn odd_content_gives_none_not_a_panic() {
        for text in [
            "",
            ")",
            "1 (x) S",
            "1 (x) S 1 2 3 4 5 6 7 8 9 10 x y",
            "(((",
            "é)é 1 2",
        ] {
            assert_eq!(parse_stat(text), None, "{text:?}");
        }
        assert_eq!(parse_auxv(&[1, 2, 3]), Auxv::default());
        assert_eq!(parse_max_open_files("Max open files  lots"), None);
        assert_eq!(parse_boot_time("btime\n"), None);
    }

    #[test]
    fn auxv_pairs() {
        let words: [usize; 8] = [3, 0x400040, 6, 16384, 17, 100, 0, 0];
        let bytes: Vec<u8> = words.iter().flat_map(|word| word.to_ne_bytes()).collect();
        assert_eq!(
            parse_auxv(&bytes),
            Auxv {
                page_size: Some(16384),
                clock_ticks: Some(100),
            }
        );
    }

    #[test]
    fn limits_soft_value() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max processes             127431               127431               processes \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(parse_max_open_files(limits), Some(1024));
        assert_eq!(
            parse_max_open_files("Max open files  unlimited  unlimited  files"),
            None
        );
    }

    #[test]
    fn boot_time_line() {
        assert_eq!(
            parse_boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 5\n"),
            Some(1_700_000_000)
        );
    }
}
