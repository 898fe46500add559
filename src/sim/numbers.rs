//! Phone numbers for simulated calls: a written prefix (`+1212`) filled
//! with random digits to the country's full length, so each number's
//! recipient zones come from the real prefix table (`domain::numtz`).

use crate::domain::Endpoint;
use rand::Rng;

/// A validated prefix and the length it is filled to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NumberPrefix {
    /// Digits after the `+`.
    digits: String,
    /// Digits of a full number after the `+`, country code included.
    full_len: usize,
}

impl NumberPrefix {
    /// Parse `+` and digits. The country code is read from libphonenumber's
    /// metadata and the number is filled to the longest fixed-line or
    /// mobile number there.
    pub fn parse(text: &str) -> Result<NumberPrefix, String> {
        let digits = text
            .strip_prefix('+')
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .ok_or_else(|| format!("{text:?} must be + and digits, such as \"+1212\""))?;
        let (code_len, national) = (1..=3.min(digits.len()))
            .find_map(|len| {
                let code: u16 = digits[..len].parse().ok()?;
                let longest = phonenumber::metadata::DATABASE
                    .by_code(&code)?
                    .iter()
                    .flat_map(|m| {
                        let d = m.descriptors();
                        [Some(d.general()), d.fixed_line(), d.mobile()]
                    })
                    .flatten()
                    .filter_map(|d| d.possible_length().iter().max().copied())
                    .max()?;
                Some((len, usize::from(longest)))
            })
            .ok_or_else(|| format!("{text:?} starts with no known country code"))?;
        let full_len = code_len + national;
        if digits.len() >= full_len {
            return Err(format!(
                "{text:?} leaves no digit to fill: numbers there have {national} digits after the country code"
            ));
        }
        let prefix = NumberPrefix {
            digits: digits.to_string(),
            full_len,
        };
        let sample = prefix.fill(|| 5);
        match Endpoint::parse(&sample) {
            Ok(Endpoint::Phone(_)) => Ok(prefix),
            _ => Err(format!("{text:?} does not make valid numbers ({sample})")),
        }
    }

    /// A number with this prefix, in E.164 form.
    pub fn generate(&self, rng: &mut impl Rng) -> String {
        self.fill(|| rng.random_range(0..10u8))
    }

    fn fill(&self, mut digit: impl FnMut() -> u8) -> String {
        let mut s = String::with_capacity(self.full_len + 1);
        s.push('+');
        s.push_str(&self.digits);
        while s.len() <= self.full_len {
            s.push(char::from(b'0' + digit()));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::zones_for_number;
    use chrono_tz::America;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn fills_to_the_country_length_and_keeps_the_zone() {
        let mut rng = StdRng::seed_from_u64(1);
        let ny = NumberPrefix::parse("+1212").unwrap();
        let la = NumberPrefix::parse("+1415").unwrap();
        for _ in 0..100 {
            let n = ny.generate(&mut rng);
            assert_eq!(n.len(), 12, "{n}");
            assert!(n.starts_with("+1212"));
            assert_eq!(zones_for_number(&n), vec![America::New_York]);
            assert_eq!(
                zones_for_number(&la.generate(&mut rng)),
                vec![America::Los_Angeles]
            );
        }
        let uk = NumberPrefix::parse("+4420").unwrap();
        assert_eq!(uk.generate(&mut rng).len(), 13);
    }

    #[test]
    fn bad_prefixes_say_why() {
        for (text, why) in [
            ("1212", "must be + and digits"),
            ("+", "must be + and digits"),
            ("+12a", "must be + and digits"),
            ("+12125550100", "leaves no digit"),
        ] {
            let e = NumberPrefix::parse(text).unwrap_err();
            assert!(e.contains(why), "{text}: {e}");
        }
    }
}
