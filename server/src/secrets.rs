//! The workshop's secrets: the facilitator's token and the seats' join codes, how they are made
//! and how they are compared (in constant time, so a guess learns nothing from how long a
//! refusal took).

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use subtle::ConstantTimeEq;

/// Letters and digits nobody confuses when a code is read aloud or off a projector: no 0/O,
/// 1/I/L, 5/S, 2/Z, 8/B.
pub const CODE_ALPHABET: &[u8] = b"ACDEFGHJKMNPQRTUVWXY34679";
/// Characters in a join code.
pub const CODE_LEN: usize = 8;
/// Random bytes behind a facilitator token (256 bits).
const TOKEN_BYTES: usize = 32;

fn os_rng() -> StdRng {
    // StdRng is a CSPRNG; seeding it from the OS makes each secret unpredictable.
    StdRng::from_os_rng()
}

/// A fresh join code, e.g. `K7PX3M9Q`.
pub fn new_code() -> String {
    let mut rng = os_rng();
    (0..CODE_LEN)
        .map(|_| char::from(CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())]))
        .collect()
}

/// A fresh facilitator token: 64 hex digits.
pub fn new_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    os_rng().fill(&mut bytes[..]);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What a trainee typed, as a code: upper case, without the spaces and dashes people add when
/// they copy one. Anything else is kept, so it simply fails to match.
pub fn normalise_code(typed: &str) -> String {
    typed
        .chars()
        .filter(|c| !matches!(c, ' ' | '-'))
        .flat_map(char::to_uppercase)
        .collect()
}

/// Equal secrets, compared in time that depends only on their lengths.
pub fn same_secret(given: &str, expected: &str) -> bool {
    given.as_bytes().ct_eq(expected.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_use_only_the_unambiguous_alphabet() {
        for _ in 0..200 {
            let code = new_code();
            assert_eq!(code.len(), CODE_LEN);
            assert!(code.bytes().all(|b| CODE_ALPHABET.contains(&b)), "{code}");
        }
        assert_ne!(new_code(), new_code());
    }

    #[test]
    fn tokens_are_long_and_fresh() {
        let token = new_token();
        assert_eq!(token.len(), 64);
        assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(token, new_token());
    }

    #[test]
    fn a_copied_code_still_matches() {
        assert_eq!(normalise_code(" k7px-3m9q "), "K7PX3M9Q");
        assert!(same_secret(&normalise_code("k7px 3m9q"), "K7PX3M9Q"));
        assert!(!same_secret("K7PX3M9", "K7PX3M9Q"));
        assert!(!same_secret("", "K7PX3M9Q"));
    }

    proptest::proptest! {
        #[test]
        fn no_typed_code_panics(typed in ".{0,64}") {
            let code = normalise_code(&typed);
            let _ = same_secret(&code, "K7PX3M9Q");
        }
    }
}
