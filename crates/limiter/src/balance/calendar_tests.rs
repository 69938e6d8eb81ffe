//! Expected instants were computed with GNU `date -u -d <local time with offset> +%s`.
use super::*;

const UTC: i32 = 0;
const BEIJING: i32 = 480;
const NEW_YORK_WINTER: i32 = -300;
const KATHMANDU: i32 = 345;
const KIRIBATI: i32 = 840;
const BAKER_ISLAND: i32 = -720;

fn ms(secs: i64) -> u64 {
    u64::try_from(secs).unwrap() * 1000
}

#[test]
fn monthly_period_turns_at_local_midnight_of_the_first_east_of_utc() {
    // 2024-02-01 00:00 in UTC+8 is 2024-01-31 16:00 UTC.
    let feb_first = 1_706_716_800;
    let last_ms_of_january = ms(feb_first) - 1;
    assert_eq!(
        period_bounds(last_ms_of_january, Period::Monthly, BEIJING),
        (1_704_038_400, feb_first)
    );
    // February 2024 has 29 days: March starts 2024-02-29 16:00 UTC.
    assert_eq!(
        period_bounds(ms(feb_first), Period::Monthly, BEIJING),
        (feb_first, 1_709_222_400)
    );
    // In UTC the same instant is still January.
    assert_eq!(
        period_id(ms(feb_first), Period::Monthly, UTC),
        1_704_067_200
    );
}

#[test]
fn leap_day_2028_belongs_to_february_and_march_follows_it() {
    let leap_day = 1_835_395_200; // 2028-02-29T00:00:00Z
    let march_first = 1_835_481_600;
    let noon = ms(leap_day + 12 * 3600);
    assert_eq!(
        period_bounds(noon, Period::Monthly, UTC),
        (1_832_976_000, march_first)
    );
    assert_eq!(
        period_bounds(noon, Period::Daily, UTC),
        (leap_day, march_first)
    );
    assert_eq!(days_from_civil(2028, 2, 29), 21_243);
    assert_eq!(civil_from_days(21_243), (2028, 2, 29));
    assert_eq!(civil_from_days(21_244), (2028, 3, 1));
}

#[test]
fn century_years_are_leap_only_every_400_years() {
    // 2100 is not a leap year: 28 February is followed by 1 March.
    let feb_28_2100 = 4_107_456_000;
    assert_eq!(
        next_period_start(ms(feb_28_2100) + 1, Period::Daily, UTC),
        4_107_542_400
    );
    assert_eq!(civil_from_days(feb_28_2100 / 86_400 + 1), (2100, 3, 1));
    // 2000 is.
    assert_eq!(days_from_civil(2000, 2, 29), 11_016);
    assert_eq!(period_id(951_782_400_000, Period::Daily, UTC), 951_782_400);
}

#[test]
fn year_end_west_of_utc() {
    // 2027-01-01 00:00 in UTC-5 is 05:00 UTC.
    let new_year = 1_798_779_600;
    let last_ms_of_2026 = ms(new_year) - 1;
    assert_eq!(
        period_bounds(last_ms_of_2026, Period::Monthly, NEW_YORK_WINTER),
        (1_796_101_200, new_year)
    );
    assert_eq!(
        period_id(ms(new_year), Period::Monthly, NEW_YORK_WINTER),
        new_year
    );
    assert_eq!(
        period_id(ms(new_year), Period::Daily, NEW_YORK_WINTER),
        new_year
    );
    // The week of 2026-12-31 (a Thursday) starts Monday 2026-12-28 and runs across the year end.
    assert_eq!(
        period_bounds(last_ms_of_2026, Period::Weekly, NEW_YORK_WINTER),
        (1_798_434_000, 1_799_038_800)
    );
    assert_eq!(
        period_id(ms(new_year), Period::Weekly, NEW_YORK_WINTER),
        1_798_434_000
    );
}

#[test]
fn weeks_start_on_monday_local_time() {
    // Monday 2024-12-30 00:00 in UTC+8 is 2024-12-29 16:00 UTC.
    let monday = 1_735_488_000;
    assert_eq!(
        period_bounds(ms(monday), Period::Weekly, BEIJING),
        (monday, monday + 7 * 86_400)
    );
    // One millisecond earlier it is still Sunday of the week before.
    assert_eq!(
        period_id(ms(monday) - 1, Period::Weekly, BEIJING),
        monday - 7 * 86_400
    );
    // Wednesday 2025-01-01 is in the same week.
    assert_eq!(
        period_id(ms(monday + 2 * 86_400 + 5), Period::Weekly, BEIJING),
        monday
    );
    // Monday 2023-11-13 in UTC.
    assert_eq!(
        period_bounds(1_700_000_000_000, Period::Weekly, UTC),
        (1_699_833_600, 1_700_438_400)
    );
}

#[test]
fn offsets_that_are_not_whole_hours_and_the_extremes() {
    // Kathmandu (UTC+5:45): 2025-01-01 00:00 local is 2024-12-31 18:15 UTC.
    let kathmandu_new_year = 1_735_668_900;
    assert_eq!(
        period_bounds(ms(kathmandu_new_year) - 1, Period::Monthly, KATHMANDU),
        (1_732_990_500, kathmandu_new_year)
    );
    assert_eq!(
        period_bounds(ms(kathmandu_new_year) - 1, Period::Daily, KATHMANDU),
        (1_735_582_500, kathmandu_new_year)
    );
    // Monday 2025-01-06 00:00 local.
    assert_eq!(
        next_period_start(ms(kathmandu_new_year), Period::Weekly, KATHMANDU),
        1_736_100_900
    );
    // One instant, 26 hours apart in local time: already May in UTC+14, still April in UTC-12.
    let instant = ms(1_714_471_200); // 2024-05-01 00:00 in UTC+14
    assert_eq!(period_id(instant, Period::Monthly, KIRIBATI), 1_714_471_200);
    assert_eq!(
        period_bounds(instant, Period::Monthly, BAKER_ISLAND),
        (1_711_972_800, 1_714_564_800)
    );
}

#[test]
fn local_time_before_the_epoch() {
    assert_eq!(period_id(0, Period::Daily, UTC), 0);
    // The epoch was a Thursday: its week began Monday 1969-12-29.
    assert_eq!(period_id(0, Period::Weekly, UTC), -259_200);
    // In UTC-1 the epoch is 1969-12-31 23:00 local.
    assert_eq!(period_id(0, Period::Daily, -60), -82_800);
    assert_eq!(period_id(0, Period::Monthly, -60), -2_674_800);
}

#[test]
fn every_day_for_a_thousand_years_round_trips_and_advances_by_one() {
    let start = days_from_civil(1600, 1, 1);
    let end = days_from_civil(2600, 1, 1);
    let mut previous = civil_from_days(start - 1);
    assert_eq!(previous, (1599, 12, 31));
    let mut february_lengths = Vec::new();
    for day in start..end {
        let date = civil_from_days(day);
        let (year, month, d) = date;
        assert_eq!(days_from_civil(year, month, d), day, "{date:?}");
        let (py, pm, pd) = previous;
        if d == 1 {
            let expected = if pm == 12 { (py + 1, 1) } else { (py, pm + 1) };
            assert_eq!((year, month), expected, "{date:?} after {previous:?}");
            if month == 3 {
                february_lengths.push((year, pd));
            }
        } else {
            assert_eq!((year, month, d), (py, pm, pd + 1), "{date:?}");
        }
        previous = date;
    }
    for (year, length) in february_lengths {
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
        assert_eq!(length, if leap { 29 } else { 28 }, "February {year}");
    }
}

#[test]
fn ids_of_every_kind_lie_on_one_time_line() {
    // Mid-month: the month began before today, and this week's Monday.
    let now = ms(1_706_716_800 + 14 * 86_400 + 3_600); // 2024-02-15 01:00 UTC+8
    let month = period_id(now, Period::Monthly, BEIJING);
    let week = period_id(now, Period::Weekly, BEIJING);
    let day = period_id(now, Period::Daily, BEIJING);
    assert!(month < week && week < day);
    assert_eq!(day - week, 3 * 86_400, "2024-02-15 is a Thursday");
}
