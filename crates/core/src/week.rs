use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// A Monday..Sunday week, labelled by its Monday (the benchmark protocol's convention).
///
/// Stored as the Monday's day number since 1970-01-01, the physical value of a Parquet/Arrow date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Week(i32);

impl Week {
    /// The week that contains `date`.
    pub fn containing(date: NaiveDate) -> Self {
        Self::containing_day(day_number(date))
    }

    /// The week containing a day given as days since 1970-01-01 (1970-01-01 is a Thursday).
    pub fn containing_day(day: i32) -> Self {
        Week(day - (day + 3).rem_euclid(7))
    }

    /// The week starting on `monday`; an error if it is not a Monday.
    pub fn from_monday(monday: NaiveDate) -> Result<Self> {
        if monday.weekday() != Weekday::Mon {
            return Err(Error::NotMonday(monday));
        }
        Ok(Week(day_number(monday)))
    }

    /// The Monday of this week as days since 1970-01-01.
    pub fn day_number(self) -> i32 {
        self.0
    }

    /// The Monday of this week (saturating at chrono's date range, which day numbers from real
    /// dates never leave).
    pub fn monday(self) -> NaiveDate {
        NaiveDate::from_epoch_days(self.0).unwrap_or(if self.0 < 0 {
            NaiveDate::MIN
        } else {
            NaiveDate::MAX
        })
    }

    /// Days since 1970-01-01 of `date` (the physical value of a Parquet/Arrow date).
    pub fn day_of(date: NaiveDate) -> i32 {
        day_number(date)
    }

    /// The date `day` days after 1970-01-01 (the inverse of [`Week::day_of`]), if chrono can
    /// hold it.
    pub fn date_of(day: i32) -> Option<NaiveDate> {
        NaiveDate::from_epoch_days(day)
    }

    /// The week `n` weeks later (earlier when negative).
    pub fn offset(self, n: i64) -> Self {
        Week(self.0 + (n * 7) as i32)
    }

    /// Whole weeks from `self` to `later` (negative if `later` is earlier).
    pub fn weeks_until(self, later: Week) -> i64 {
        ((later.0 - self.0) / 7) as i64
    }

    /// ISO week of the year, 1..=53.
    pub fn iso_week(self) -> u32 {
        self.monday().iso_week().week()
    }

    /// Position in the year as a fraction in [0, 1): day of year of the Thursday / 365.25.
    /// Smooth across year ends, used for sin/cos seasonality features.
    pub fn year_fraction(self) -> f64 {
        let thursday = self.monday() + Days::new(3);
        (thursday.ordinal0() as f64) / 365.25
    }
}

impl std::fmt::Display for Week {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.monday().fmt(f)
    }
}

/// Days since 1970-01-01.
pub(crate) fn day_number(date: NaiveDate) -> i32 {
    date.to_epoch_days()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn weeks_start_on_monday() {
        // M5 starts on Saturday 2011-01-29: its week is the partial week of Monday 2011-01-24.
        assert_eq!(Week::containing(d(2011, 1, 29)).monday(), d(2011, 1, 24));
        assert_eq!(Week::containing(d(2011, 1, 31)).monday(), d(2011, 1, 31));
        assert_eq!(Week::containing(d(2016, 6, 19)).monday(), d(2016, 6, 13));
        for day in -20..20 {
            let w = Week::containing_day(day);
            assert_eq!(w.monday().weekday(), Weekday::Mon);
            assert!(day - w.day_number() < 7 && day >= w.day_number());
        }
    }

    #[test]
    fn from_monday_rejects_other_days() {
        assert!(Week::from_monday(d(2024, 1, 1)).is_ok());
        assert_eq!(
            Week::from_monday(d(2024, 1, 2)),
            Err(Error::NotMonday(d(2024, 1, 2)))
        );
    }

    #[test]
    fn offsets_and_distances() {
        let w = Week::containing(d(2023, 12, 25));
        assert_eq!(w.offset(1).monday(), d(2024, 1, 1));
        assert_eq!(w.weeks_until(w.offset(52)), 52);
        assert_eq!(w.offset(-2).weeks_until(w), 2);
        assert_eq!(w.offset(1).iso_week(), 1);
        assert!(w.year_fraction() > 0.98);
    }
}
