//! Deterministic generation primitives: hashing, ids, timestamps and the small value tables the
//! tenant draws from. Nothing here reads the wall clock.

/// splitmix64: a fast, well-mixed 64-bit permutation.
pub(crate) fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A keyed hash of `(mix, i, salt)`.
#[inline]
pub(crate) fn hash3(mix: u64, i: u64, salt: u64) -> u64 {
    splitmix64(mix ^ splitmix64(i ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93)))
}

/// A uniform float in [0, 1) from a hash.
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A bijection on 28-bit values (odd multiplier, xorshift), so that names derived from distinct
/// indices stay distinct while looking random.
pub(crate) fn scramble28(x: u64, key: u64) -> u64 {
    const MASK: u64 = (1 << 28) - 1;
    let mut v = (x ^ key) & MASK;
    v = v.wrapping_mul(0x0A3_5B9F | 1) & MASK;
    v ^= v >> 13;
    v = v.wrapping_mul(0x3C6_EF35 | 1) & MASK;
    v ^= v >> 11;
    v
}

pub(crate) const MICROS_PER_SEC: i64 = 1_000_000;
pub(crate) const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SEC;

/// Days since 1970-01-01 → (year, month, day). (H. Hinnant's civil_from_days.)
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = (z - era * 146_097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn push_num(out: &mut String, v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut n = v;
    let mut k = 0;
    while n > 0 || k == 0 {
        buf[k] = b'0' + (n % 10) as u8;
        n /= 10;
        k += 1;
    }
    for _ in k..width {
        out.push('0');
    }
    for j in (0..k).rev() {
        out.push(buf[j] as char);
    }
}

fn fmt_ts(us: i64, micros: bool) -> String {
    let secs = us.div_euclid(MICROS_PER_SEC);
    let frac = us.rem_euclid(MICROS_PER_SEC) as u64;
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400) as u64;
    let (y, m, d) = civil_from_days(days);
    let mut s = String::with_capacity(27);
    push_num(&mut s, y.max(0) as u64, 4);
    s.push('-');
    push_num(&mut s, u64::from(m), 2);
    s.push('-');
    push_num(&mut s, u64::from(d), 2);
    s.push('T');
    push_num(&mut s, sod / 3600, 2);
    s.push(':');
    push_num(&mut s, (sod / 60) % 60, 2);
    s.push(':');
    push_num(&mut s, sod % 60, 2);
    if micros {
        s.push('.');
        push_num(&mut s, frac, 6);
    }
    s.push('Z');
    s
}

/// `2022-11-10T20:04:42.684950Z` — the console's resource timestamp format.
pub(crate) fn ts_micros(us: i64) -> String {
    fmt_ts(us, true)
}

/// `2022-11-10T20:04:19Z` — seconds only (osStartTime, token expiresAt).
pub(crate) fn ts_secs(us: i64) -> String {
    fmt_ts(us, false)
}

/// Parse an ISO-8601 timestamp (RFC 3339, or without offset = UTC) to microseconds.
pub(crate) fn parse_ts(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(dt) = chrono::DateTime::parse_from_rfc3339(s) {
        return Some(dt.timestamp_micros());
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
    ] {
        if let Ok(dt) = chrono::NaiveDateTime::parse_from_str(s, f) {
            return Some(dt.and_utc().timestamp_micros());
        }
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|dt| dt.and_utc().timestamp_micros());
    }
    None
}

/// 32 lower-case hex digits.
pub(crate) fn hex32(a: u64, b: u64) -> String {
    format!("{a:016x}{b:016x}")
}

/// 8-4-4-4-12 lower-case hex.
pub(crate) fn uuid_dashed(a: u64, b: u64) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xffff,
        b >> 48,
        b & 0xffff_ffff_ffff
    )
}

pub(crate) const FIRST_NAMES: [&str; 32] = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "mallory",
    "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yasmin", "zoe",
    "liam", "noah", "emma", "ava", "mia", "lucas", "ethan", "sofia", "amir", "priya", "kenji",
];

pub(crate) const LAST_NAMES: [&str; 32] = [
    "nguyen",
    "smith",
    "garcia",
    "muller",
    "rossi",
    "tanaka",
    "kowalski",
    "johnson",
    "martin",
    "silva",
    "kim",
    "patel",
    "dubois",
    "jensen",
    "novak",
    "lopez",
    "cohen",
    "okafor",
    "ivanova",
    "schmidt",
    "brown",
    "wilson",
    "moreau",
    "haddad",
    "singh",
    "larsen",
    "costa",
    "yamamoto",
    "fischer",
    "oconnor",
    "andersson",
    "mendes",
];

pub(crate) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
