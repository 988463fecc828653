//! Integers, binary floats and decimals as the servers read them from text: an optional sign,
//! ASCII digits, an optional fraction and exponent. Nothing here converts a string to a number
//! it could overflow: exponents saturate, digits are counted.

/// What a decimal column accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecimalRule {
    /// `(precision, scale)`: the value, rounded to `scale` fractional digits, must be below
    /// `10^(precision - scale)` in magnitude.
    pub digits: Option<(i64, i64)>,
    /// `NaN` is a value (PostgreSQL).
    pub nan: bool,
    /// `Infinity` is a value (PostgreSQL, unconstrained `numeric` only).
    pub infinity: bool,
    /// Negative values are refused (MySQL `decimal unsigned`).
    pub unsigned: bool,
    /// PostgreSQL's own limits on an unconstrained `numeric`.
    pub postgres: bool,
}

/// PostgreSQL `numeric`: up to 131072 digits before the point, 16383 after.
const PG_MAX_INTEGER_DIGITS: i64 = 131_072;
const PG_MAX_SCALE: i64 = 16_383;
/// PostgreSQL refuses a `numeric` written with an exponent beyond ±1000.
const PG_MAX_EXPONENT: u64 = 1000;

/// A number's digits with leading zeros removed, and where its point falls: the value is
/// `0.DIGITS × 10^point`.
#[derive(Debug, PartialEq, Eq)]
struct Decimal<'a> {
    negative: bool,
    digits: Vec<u8>,
    point: i64,
    /// Digits after the point as written, after the exponent (the display scale).
    scale: i64,
    /// The exponent as written (saturated).
    exponent: i64,
    _text: &'a str,
}

/// Reads an optional sign at `*i`: `true` for `-`.
fn sign(bytes: &[u8], i: &mut usize) -> bool {
    match bytes.get(*i) {
        Some(b'-') => {
            *i += 1;
            true
        }
        Some(b'+') => {
            *i += 1;
            false
        }
        _ => false,
    }
}

/// Reads the ASCII digits at `*i`.
fn digit_run(bytes: &[u8], i: &mut usize) -> Vec<u8> {
    let mut digits = Vec::new();
    while let Some(b) = bytes.get(*i).filter(|b| b.is_ascii_digit()) {
        digits.push(*b);
        *i += 1;
    }
    digits
}

/// Reads `[eE] [+-]? D+` at `*i` if it is there (0 if not); `None` for an `e` with no digits.
fn exponent(bytes: &[u8], i: &mut usize) -> Option<i64> {
    if !matches!(bytes.get(*i), Some(b'e' | b'E')) {
        return Some(0);
    }
    *i += 1;
    let negative = sign(bytes, i);
    let digits = digit_run(bytes, i);
    if digits.is_empty() {
        return None;
    }
    // Saturates far beyond any server's limit.
    let exponent = digits.iter().fold(0i64, |e, d| {
        e.saturating_mul(10)
            .saturating_add(i64::from(d - b'0'))
            .min(1 << 40)
    });
    Some(if negative { -exponent } else { exponent })
}

/// Parses `[+-]? (D+ (. D*)? | . D+) ([eE] [+-]? D+)?`; `None` when `v` is not of that form.
fn parse(v: &str) -> Option<Decimal<'_>> {
    let bytes = v.as_bytes();
    let mut i = 0;
    let negative = sign(bytes, &mut i);
    let whole = digit_run(bytes, &mut i);
    let mut fraction = Vec::new();
    if bytes.get(i) == Some(&b'.') {
        i += 1;
        fraction = digit_run(bytes, &mut i);
    }
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let exponent = exponent(bytes, &mut i)?;
    if i != bytes.len() {
        return None;
    }
    let whole_len = i64::try_from(whole.len()).ok()?;
    let fraction_len = i64::try_from(fraction.len()).ok()?;
    let mut digits = whole;
    digits.extend_from_slice(&fraction);
    let mut point = whole_len.saturating_add(exponent);
    let leading = digits.iter().take_while(|d| **d == b'0').count();
    digits.drain(..leading);
    point = point.saturating_sub(i64::try_from(leading).ok()?);
    while digits.last() == Some(&b'0') {
        digits.pop();
    }
    Some(Decimal {
        negative,
        digits,
        point,
        scale: fraction_len.saturating_sub(exponent).max(0),
        exponent,
        _text: v,
    })
}

/// `Some(reason)` when `v` is not an integer in `min..=max`.
pub fn integer(v: &str, min: i128, max: i128, name: &str) -> Option<String> {
    let body = v.strip_prefix(['+', '-']).unwrap_or(v);
    if body.is_empty() || !body.bytes().all(|b| b.is_ascii_digit()) {
        return Some("not an integer".to_owned());
    }
    let significant = body.trim_start_matches('0');
    let value = if significant.len() > 38 {
        None
    } else {
        v.parse::<i128>().ok()
    };
    match value {
        Some(n) if (min..=max).contains(&n) => None,
        _ => Some(format!("out of range for {name} ({min} to {max})")),
    }
}

fn special(v: &str) -> Option<f64> {
    let lower = v.to_ascii_lowercase();
    let (negative, word) = match lower.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, lower.strip_prefix('+').unwrap_or(&lower)),
    };
    match word {
        "nan" if v.len() == 3 => Some(f64::NAN),
        "inf" | "infinity" if negative => Some(f64::NEG_INFINITY),
        "inf" | "infinity" => Some(f64::INFINITY),
        _ => None,
    }
}

/// `Some(reason)` when `v` is not a float the column can hold.
pub fn float(v: &str, single: bool, allow_special: bool, underflow: bool) -> Option<String> {
    if special(v).is_some() {
        return (!allow_special).then(|| "not a finite number".to_owned());
    }
    let Some(parsed) = parse(v) else {
        return Some("not a number".to_owned());
    };
    let (infinite, zero) = if single {
        let f = v.parse::<f32>().ok()?;
        (f.is_infinite(), f == 0.0)
    } else {
        let f = v.parse::<f64>().ok()?;
        (f.is_infinite(), f == 0.0)
    };
    let what = if single { "real" } else { "double precision" };
    if infinite || (underflow && zero && !parsed.digits.is_empty()) {
        Some(format!("out of range for {what}"))
    } else {
        None
    }
}

/// `Some(reason)` when `v` is not a decimal the column can hold.
pub fn decimal(v: &str, rule: &DecimalRule) -> Option<String> {
    if let Some(f) = special(v) {
        let ok = if f.is_nan() { rule.nan } else { rule.infinity };
        return (!ok).then(|| match rule.digits {
            Some((p, s)) if rule.nan => {
                format!("out of range for numeric({p},{s}) (it cannot hold an infinite value)")
            }
            _ => "not a finite number".to_owned(),
        });
    }
    let Some(number) = parse(v) else {
        return Some("not a number".to_owned());
    };
    if rule.postgres && number.exponent.unsigned_abs() > PG_MAX_EXPONENT {
        return Some(format!(
            "not a number (exponents go up to ±{PG_MAX_EXPONENT})"
        ));
    }
    if number.digits.is_empty() {
        return None; // zero, in any precision
    }
    if rule.unsigned && number.negative {
        return Some("negative, and the column is unsigned".to_owned());
    }
    match rule.digits {
        Some((precision, scale)) => {
            // Round to `scale` fractional digits, half away from zero, as both servers do.
            let kept = number.point.saturating_add(scale);
            let len = i64::try_from(number.digits.len()).unwrap_or(i64::MAX);
            let point = if kept < 0 {
                return None; // rounds to zero
            } else if kept >= len {
                number.point
            } else {
                let cut = usize::try_from(kept).unwrap_or(usize::MAX);
                let rounds_up = number.digits.get(cut).is_some_and(|d| *d >= b'5');
                let all_nines = number.digits.iter().take(cut).all(|d| *d == b'9');
                if !rounds_up && cut == 0 {
                    return None; // rounds to zero
                }
                if rounds_up && all_nines {
                    number.point.saturating_add(1)
                } else {
                    number.point
                }
            };
            (point > precision.saturating_sub(scale)).then(|| {
                format!(
                    "out of range for numeric({precision},{scale}) (at most {} digits before the point)",
                    precision.saturating_sub(scale).max(0)
                )
            })
        }
        None if rule.postgres => (number.point > PG_MAX_INTEGER_DIGITS
            || number.scale > PG_MAX_SCALE)
            .then(|| "out of range for numeric".to_owned()),
        None => None,
    }
}
