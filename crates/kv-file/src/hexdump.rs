//! A `hexdump -C`-style rendering of bytes, for the snapshot tests of every layer that pins
//! an on-disk layout, and for anyone debugging a file.

/// Renders `bytes` like `hexdump -C`: offset, 16 bytes in hex, and their printable text; a
/// run of identical lines collapses to `*`; the last line is the length.
pub fn hexdump(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut previous: Option<&[u8]> = None;
    let mut starred = false;
    for (i, line) in bytes.chunks(16).enumerate() {
        if previous == Some(line) {
            if !starred {
                out.push_str("*\n");
                starred = true;
            }
            continue;
        }
        starred = false;
        previous = Some(line);
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        let text: String = line
            .iter()
            .map(|&b| {
                if b.is_ascii_graphic() || b == b' ' {
                    b as char
                } else {
                    '.'
                }
            })
            .collect();
        out.push_str(&format!(
            "{:08x}  {:<47}  |{text}|\n",
            i * 16,
            hex.join(" ")
        ));
    }
    out.push_str(&format!("{:08x}\n", bytes.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapses_repeated_lines_like_hexdump() {
        let mut bytes = b"KanthorKV".to_vec();
        bytes.resize(64, 0);
        let dump = hexdump(&bytes);
        assert_eq!(dump.lines().count(), 4, "{dump}");
        assert!(dump.starts_with("00000000  4b 61 6e 74"));
        assert!(dump.contains("|KanthorKV.......|"));
        assert!(dump.ends_with("*\n00000040\n"));
    }
}
