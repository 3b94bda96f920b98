//! Input mutation shared by the parser property tests and the long fuzz runs (engine and labs
//! include this file by path): byte flips, truncation, multibyte and syntax-significant text
//! inserted anywhere, duplicated, dropped and swapped lines, and string or number values
//! replaced, all driven by a seeded generator so any failure replays from its seed.
//!
//! It has no dependencies on purpose, so that every crate (labd included, which shares no
//! code with the rest) can use the very same mutations.

#![allow(dead_code)]

/// xorshift64*: tiny, fast and reproducible; the quality is ample for picking mutations.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        // Never zero (xorshift's fixed point), and nearby seeds start far apart.
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Text that breaks naive parsers: multibyte characters of every width, odd spaces, escapes,
/// quotes and brackets, extreme numbers, RON and JSON syntax.
pub const SPICE: &[&str] = &[
    "é",
    "ééé",
    "—",
    "Look at logins — ééé",
    "日本語",
    "𝕏",
    "🦀",
    "\u{a0}",
    "\u{200b}",
    "\u{feff}",
    "\u{10ffff}",
    "e\u{301}",
    "\"",
    "\\",
    "\\u{e9}",
    "\\u00e9",
    "\\x",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    ",",
    ":",
    ";",
    "\n",
    "\r\n",
    "\r",
    "\t",
    "\0",
    "\u{7f}",
    "0",
    "-1",
    "-0.0",
    "1e999",
    "-1e999",
    "inf",
    "NaN",
    "4294967296",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "0x",
    "0b2",
    "T12é4",
    "T123é",
    "T1234é67",
    "T1234.00é",
    "T1078",
    "#![enable(implicit_some)]",
    "#![enable(unwrap_newtypes)]",
    "#![enable(unwrap_variant_newtypes)]",
    "//",
    "/*",
    "*/",
    "r#\"",
    "b\"",
    "'",
    "'é'",
    "Some(",
    "None",
    "true",
    "null",
    "id: \"",
    "%",
    "%zz",
    "%+1",
    "%e9",
    "%C3%A9",
    "%F0%9F",
    "+",
    "&",
    "=",
    "?",
    "/",
    "..",
];

/// One random piece of text: a spice, a few of them, or random characters.
pub fn spice(rng: &mut Rng) -> String {
    match rng.below(6) {
        0..=2 => (*rng.pick(SPICE)).to_string(),
        3 => (0..1 + rng.below(4))
            .map(|_| *rng.pick(SPICE))
            .collect::<String>(),
        4 => (0..1 + rng.below(12))
            .map(|_| char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{fffd}'))
            .collect(),
        _ => (0..1 + rng.below(12))
            .map(|_| char::from(b' ' + rng.below(95) as u8))
            .collect(),
    }
}

/// A nearby char boundary of `text` at or before `at`.
fn boundary(text: &[u8], mut at: usize) -> usize {
    at = at.min(text.len());
    // Continuation bytes are 0b10xx_xxxx; stepping back over them lands on a boundary.
    while at > 0 && at < text.len() && (text[at] & 0xC0) == 0x80 {
        at -= 1;
    }
    at
}

/// Line start offsets of `data` (with its length at the end).
fn line_starts(data: &[u8]) -> Vec<usize> {
    let mut starts = vec![0];
    starts.extend(
        data.iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i + 1),
    );
    if *starts.last().unwrap_or(&0) != data.len() {
        starts.push(data.len());
    }
    starts
}

/// Apply one random mutation to `data`.
pub fn mutate_once(data: &mut Vec<u8>, rng: &mut Rng) {
    let len = data.len();
    match rng.below(12) {
        // Byte-level damage: mostly leaves the file not UTF-8.
        0 if len > 0 => {
            let i = rng.below(len);
            data[i] ^= 1 << rng.below(8);
        }
        1 if len > 0 => {
            let i = rng.below(len);
            data[i] = rng.below(256) as u8;
        }
        2 => {
            let at = rng.below(len + 1);
            data.truncate(at);
        }
        // Text inserted at a char boundary (the file stays UTF-8) or anywhere.
        3..=5 => {
            let raw = rng.below(len + 1);
            let at = if rng.chance(8) {
                raw
            } else {
                boundary(data, raw)
            };
            let s = spice(rng);
            data.splice(at..at, s.into_bytes());
        }
        // Whole lines duplicated, dropped or swapped.
        6 => {
            let starts = line_starts(data);
            if starts.len() >= 2 {
                let l = rng.below(starts.len() - 1);
                let line = data[starts[l]..starts[l + 1]].to_vec();
                let at = starts[rng.below(starts.len())];
                data.splice(at..at, line);
            }
        }
        7 => {
            let starts = line_starts(data);
            if starts.len() >= 2 {
                let l = rng.below(starts.len() - 1);
                data.drain(starts[l]..starts[l + 1]);
            }
        }
        8 => {
            let starts = line_starts(data);
            if starts.len() >= 3 {
                let a = rng.below(starts.len() - 1);
                let b = rng.below(starts.len() - 1);
                let (a, b) = (a.min(b), a.max(b));
                if a != b {
                    let la = data[starts[a]..starts[a + 1]].to_vec();
                    let lb = data[starts[b]..starts[b + 1]].to_vec();
                    data.splice(starts[b]..starts[b + 1], la);
                    data.splice(starts[a]..starts[a + 1], lb);
                }
            }
        }
        // Values replaced: the file still parses, often, but says something wrong, which is
        // what the validator is for.
        9 | 10 => {
            let from = rng.below(len + 1);
            if let Some(q) = data[from..].iter().position(|b| *b == b'"') {
                let open = from + q + 1;
                let close = data[open..]
                    .iter()
                    .position(|b| *b == b'"')
                    .map_or(data.len(), |i| open + i);
                let s = spice(rng)
                    .replace(['"', '\\'], "")
                    .chars()
                    .take(40)
                    .collect::<String>();
                let s = if rng.chance(3) {
                    // A real value moved elsewhere: a valid id in the wrong place.
                    let ws = words(data);
                    ws.get(rng.below(ws.len())).cloned().unwrap_or(s)
                } else {
                    s
                };
                data.splice(open..close, s.into_bytes());
            }
        }
        _ => {
            let from = rng.below(len + 1);
            if let Some(d) = data[from..].iter().position(u8::is_ascii_digit) {
                let start = from + d;
                let end = data[start..]
                    .iter()
                    .position(|b| !b.is_ascii_digit())
                    .map_or(data.len(), |i| start + i);
                let n = match rng.below(4) {
                    0 => "0".to_string(),
                    1 => rng.next_u64().to_string(),
                    2 => (rng.below(100_000)).to_string(),
                    _ => (*rng.pick(SPICE)).to_string(),
                };
                data.splice(start..end, n.into_bytes());
            }
        }
    }
}

/// The double-quoted words of a text (ids, names), to move around.
fn words(data: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(data);
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|w| w.len() < 40)
        .map(str::to_string)
        .collect()
}

/// A mutant of `seed`: one to four mutations, occasionally many more.
pub fn mutant(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut data = seed.to_vec();
    let rounds = if rng.chance(16) {
        5 + rng.below(30)
    } else {
        1 + rng.below(4)
    };
    for _ in 0..rounds {
        mutate_once(&mut data, rng);
    }
    data
}

/// Mostly a mutant of one of the seeds, sometimes text made from nothing.
pub fn input(seeds: &[Vec<u8>], rng: &mut Rng) -> Vec<u8> {
    if seeds.is_empty() || rng.chance(20) {
        (0..rng.below(8))
            .map(|_| spice(rng))
            .collect::<String>()
            .into_bytes()
    } else {
        let seed = rng.pick(seeds).clone();
        mutant(&seed, rng)
    }
}
