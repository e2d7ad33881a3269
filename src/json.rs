//! JSON written by hand where a hot path knows its shape: the webhook's answer
//! ([`crate::admission::to_bytes`]) and the audit line ([`crate::audit::AuditRecord::write_line`]).
//! Both are byte for byte what `serde_json` writes for the same structure, and their tests hold
//! them to it. Strings are escaped eight bytes at a time: a denial's answer and audit line carry
//! a few kilobytes of explanation, which `serde_json` escapes byte by byte.

use std::io::Write;

/// Appends `s` as a JSON string, escaped as `serde_json` escapes it: `"` and `\` with a
/// backslash, the control characters as `\b \t \n \f \r` or `\u00XX` (lowercase hex),
/// everything else (UTF-8 included) as it is. Eight bytes are checked at a time, and the runs
/// between escapes are copied whole.
pub(crate) fn string(out: &mut Vec<u8>, s: &str) {
    const LOW: u64 = u64::from_le_bytes([0x7f; 8]);
    const HIGH: u64 = u64::from_le_bytes([0x80; 8]);
    const fn splat(b: u8) -> u64 {
        u64::from_le_bytes([b; 8])
    }
    // The top bit of each byte of `v` that is zero, exactly (no carry crosses a byte: the low
    // seven bits plus 0x7f stay below 0x100).
    fn zero_bytes(v: u64) -> u64 {
        !(((v & LOW) + LOW) | v) & HIGH
    }
    // The bytes to escape: below 0x20 (no bit above the low five), a quote, a backslash.
    fn to_escape(w: u64) -> u64 {
        zero_bytes(w & splat(0xe0)) | zero_bytes(w ^ splat(b'"')) | zero_bytes(w ^ splat(b'\\'))
    }
    fn escape(out: &mut Vec<u8>, b: u8) {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x0c => out.extend_from_slice(b"\\f"),
            _ => out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[usize::from(b >> 4)],
                HEX[usize::from(b & 0xf)],
            ]),
        }
    }
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    let mut words = bytes.chunks_exact(8);
    for (n, chunk) in words.by_ref().enumerate() {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let mut found = to_escape(u64::from_le_bytes(word));
        while found != 0 {
            let i = n * 8 + (found.trailing_zeros() / 8) as usize;
            out.extend_from_slice(&bytes[start..i]);
            escape(out, bytes[i]);
            start = i + 1;
            found &= found - 1;
        }
    }
    let tail = bytes.len() - words.remainder().len();
    for (i, &b) in bytes.iter().enumerate().skip(tail) {
        if b < 0x20 || b == b'"' || b == b'\\' {
            out.extend_from_slice(&bytes[start..i]);
            escape(out, b);
            start = i + 1;
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends an unsigned integer as `serde_json` writes it.
pub(crate) fn number(out: &mut Vec<u8>, n: impl Into<u64>) {
    // Writing to a Vec cannot fail.
    let _ = write!(out, "{}", n.into());
}

/// Appends `items` as a JSON array, each written by `item`.
pub(crate) fn array<T>(out: &mut Vec<u8>, items: &[T], mut item: impl FnMut(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, x) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        item(out, x);
    }
    out.push(b']');
}

/// Appends `items` as a JSON array of strings.
pub(crate) fn strings(out: &mut Vec<u8>, items: &[String]) {
    array(out, items, |out, s| string(out, s));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_exactly_as_serde_json_escapes_them() {
        let escaped = |s: &str| {
            let mut out = Vec::new();
            string(&mut out, s);
            String::from_utf8(out).expect("UTF-8 in, UTF-8 out")
        };
        // Every ASCII character, alone and at every offset of a run longer than a word, so that
        // each lands in a checked word, across a word's edge and in the tail.
        for b in 0u8..0x80 {
            let c = char::from(b);
            for offset in 0..20 {
                let s = format!("{}{c}{}", "a".repeat(offset), "b".repeat(19 - offset));
                assert_eq!(
                    escaped(&s),
                    serde_json::to_string(&s).expect("encodes"),
                    "{s:?}"
                );
            }
        }
        // Pseudo-random text from an alphabet rich in what must be escaped, multi-byte UTF-8
        // included (a fixed linear congruential sequence: the same cases every run).
        let alphabet: Vec<char> = "ab \"\\\n\r\t\u{8}\u{c}\u{0}\u{1f}\u{7f}é—🦀/:{}"
            .chars()
            .collect();
        let mut state: u64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2_000 {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            let len = (state >> 58) as usize;
            let s: String = (0..len)
                .map(|_| {
                    state = state
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1);
                    alphabet[(state >> 33) as usize % alphabet.len()]
                })
                .collect();
            assert_eq!(
                escaped(&s),
                serde_json::to_string(&s).expect("encodes"),
                "{s:?}"
            );
        }
    }

    #[test]
    fn numbers_and_string_arrays_are_written_as_serde_json_writes_them() {
        for n in [0u64, 7, 403, 65_535, u64::MAX] {
            let mut out = Vec::new();
            number(&mut out, n);
            assert_eq!(out, serde_json::to_vec(&n).expect("encodes"));
        }
        for items in [
            vec![],
            vec!["a".to_string()],
            vec!["a\"b".into(), "c\nd".into(), String::new()],
        ] {
            let mut out = Vec::new();
            strings(&mut out, &items);
            assert_eq!(out, serde_json::to_vec(&items).expect("encodes"));
        }
    }
}
