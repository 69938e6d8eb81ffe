//! Calendar periods in a fixed UTC offset, as pure functions of the caller's clock.
//!
//! A period is identified by the instant it starts, in Unix seconds: local midnight (daily),
//! Monday's local midnight (weekly), the first of the month's local midnight (monthly). Ids of
//! every kind and offset are therefore on one time line and compare in order: a marker written
//! under a monthly refill is older than today's daily period once today is past the first, so a
//! changed configuration refills at the next admission instead of waiting for an id of its own
//! kind to catch up. A store refills when the id it holds is *smaller* than the caller's, so a
//! worker whose clock is slightly behind at a boundary never refills a second time.
//!
//! The civil-date conversion counts days in 400-year cycles (146 097 days each, the Gregorian
//! calendar repeating exactly), which gets month lengths and leap years (2000 and 2028 leap, 2100
//! not) right without tables.

const SECS_PER_DAY: i64 = 86_400;
/// Days in one 400-year Gregorian cycle.
const DAYS_PER_ERA: i64 = 146_097;
/// Days from 0000-03-01 (the start of the proleptic cycle the conversion counts in) to
/// 1970-01-01.
const EPOCH_SHIFT: i64 = 719_468;

/// How often a balance is refilled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    /// Every day at 00:00 local time.
    Daily,
    /// Every Monday at 00:00 local time.
    Weekly,
    /// On the first of every month at 00:00 local time.
    Monthly,
}

/// The id of the calendar period that contains `now_ms` in the fixed offset
/// `utc_offset_minutes` (east of UTC positive: +480 for UTC+8, -300 for UTC-5): the instant the
/// period starts, in Unix seconds.
pub fn period_id(now_ms: u64, period: Period, utc_offset_minutes: i32) -> i64 {
    period_bounds(now_ms, period, utc_offset_minutes).0
}

/// The instant the period after the one containing `now_ms` starts (the next refill), in Unix
/// seconds.
pub fn next_period_start(now_ms: u64, period: Period, utc_offset_minutes: i32) -> i64 {
    period_bounds(now_ms, period, utc_offset_minutes).1
}

/// Start and end (the next period's start) of the period containing `now_ms`, Unix seconds.
pub fn period_bounds(now_ms: u64, period: Period, utc_offset_minutes: i32) -> (i64, i64) {
    let offset_secs = i64::from(utc_offset_minutes) * 60;
    // u64::MAX ms is about 1.8e16 s: always fits.
    let utc_secs = i64::try_from(now_ms / 1000).unwrap_or(i64::MAX / 2);
    let local_day = (utc_secs + offset_secs).div_euclid(SECS_PER_DAY);
    let (first, next) = match period {
        Period::Daily => (local_day, local_day + 1),
        Period::Weekly => {
            // 1970-01-01 was a Thursday: day + 3 is a multiple of 7 on Mondays.
            let monday = local_day - (local_day + 3).rem_euclid(7);
            (monday, monday + 7)
        }
        Period::Monthly => {
            let (year, month, _) = civil_from_days(local_day);
            let (next_year, next_month) = if month == 12 {
                (year + 1, 1)
            } else {
                (year, month + 1)
            };
            (
                days_from_civil(year, month, 1),
                days_from_civil(next_year, next_month, 1),
            )
        }
    };
    (
        first * SECS_PER_DAY - offset_secs,
        next * SECS_PER_DAY - offset_secs,
    )
}

/// Days since 1970-01-01 of the proleptic Gregorian date `year-month-day` (month 1..=12).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    // Count years from March, so that February (and its leap day) ends the year.
    let march_year = if month <= 2 { year - 1 } else { year };
    let era = march_year.div_euclid(400);
    let year_of_era = march_year - era * 400;
    let month_from_march = i64::from((month + 9) % 12);
    // Month lengths from March on are 31,30,31,30,31 repeating: 153 days per 5 months.
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - EPOCH_SHIFT
}

/// The proleptic Gregorian date (year, month 1..=12, day 1..=31) of a day count since
/// 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + EPOCH_SHIFT;
    let era = shifted.div_euclid(DAYS_PER_ERA);
    let day_of_era = shifted - era * DAYS_PER_ERA;
    // Take out the leap days (every 4 years, not every 100, again every 400) to find the year.
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    // Both are in range by construction (1..=12, 1..=31).
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

#[cfg(test)]
#[path = "calendar_tests.rs"]
mod tests;
