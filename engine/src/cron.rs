//! Cron expressions in a time zone: when a schedule is due.
//!
//! Users write the classic five fields (minute, hour, day of month, month,
//! day of week, with 0 or 7 = Sunday), six fields with seconds first, or a
//! macro such as `@daily`. Times are evaluated in the schedule's IANA time
//! zone, so `0 9 * * 1-5` in `Asia/Shanghai` fires at 09:00 Beijing time on
//! weekdays, daylight saving included.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};
use chrono_tz::Tz;

/// Why a cron expression or time zone was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error(
        "invalid cron expression \"{expr}\": {reason}; write five fields like \"30 2 * * *\" (minute hour day month weekday) or a macro like \"@daily\""
    )]
    Expression { expr: String, reason: String },
    #[error(
        "unknown time zone \"{zone}\": use an IANA name such as \"UTC\", \"Asia/Shanghai\" or \"America/New_York\""
    )]
    TimeZone { zone: String },
}

/// A parsed schedule in its time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    schedule: cron::Schedule,
    zone: Tz,
}

impl CronSchedule {
    /// Parses `expr` to be evaluated in `timezone`.
    ///
    /// # Errors
    /// When either does not parse; the message says what to write instead.
    pub fn parse(expr: &str, timezone: &str) -> Result<Self, CronError> {
        let zone = Tz::from_str(timezone.trim()).map_err(|_| CronError::TimeZone { zone: timezone.to_owned() })?;
        let normalized = normalize(expr)
            .map_err(|reason| CronError::Expression { expr: expr.to_owned(), reason: reason.to_owned() })?;
        let schedule = cron::Schedule::from_str(&normalized)
            .map_err(|e| CronError::Expression { expr: expr.to_owned(), reason: e.to_string() })?;
        Ok(Self { schedule, zone })
    }

    /// The first fire time strictly after `after` (ms since the epoch).
    pub fn next_after(&self, after: i64) -> Option<i64> {
        self.schedule.after(&self.local(after)).next().map(|t| t.timestamp_millis())
    }

    /// The next `count` fire times after `after`.
    pub fn upcoming(&self, after: i64, count: usize) -> Vec<i64> {
        self.schedule.after(&self.local(after)).take(count).map(|t| t.timestamp_millis()).collect()
    }

    /// Fire times `t` with `after < t <= now`, oldest first: all of them (at
    /// most `cap`, the most recent ones) when catching up, else only the latest.
    pub fn due(&self, after: i64, now: i64, catchup: bool, cap: usize) -> Vec<i64> {
        let mut due: Vec<i64> = Vec::new();
        for time in self.schedule.after(&self.local(after)) {
            let ms = time.timestamp_millis();
            if ms > now {
                break;
            }
            due.push(ms);
            let keep = if catchup { cap.max(1) } else { 1 };
            if due.len() > keep {
                due.remove(0);
            }
        }
        due
    }

    fn local(&self, ms: i64) -> DateTime<Tz> {
        let utc = Utc.timestamp_millis_opt(ms).single().unwrap_or_else(Utc::now);
        utc.with_timezone(&self.zone)
    }
}

/// Turns the user's form into the `cron` crate's: seconds first, and
/// weekday numbers as names (the crate counts Sunday as 1, classic cron as 0).
fn normalize(expr: &str) -> Result<String, &'static str> {
    let expr = expr.trim();
    if expr.starts_with('@') {
        return Ok(expr.to_owned());
    }
    let fields: Vec<&str> = expr.split_whitespace().collect();
    let (mut fields, weekday) = match fields.len() {
        5 => (std::iter::once("0").chain(fields.iter().copied()).map(str::to_owned).collect::<Vec<_>>(), 5),
        6 | 7 => (fields.iter().map(|f| (*f).to_owned()).collect(), 5),
        _ => return Err("expected 5 fields (or 6 with seconds first)"),
    };
    fields[weekday] = weekday_names(&fields[weekday])?;
    Ok(fields.join(" "))
}

fn weekday_names(field: &str) -> Result<String, &'static str> {
    const NAMES: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];
    let name = |part: &str| -> Result<String, &'static str> {
        match part.parse::<usize>() {
            Ok(n) => NAMES.get(n).map(|s| (*s).to_owned()).ok_or("weekdays are 0-7 (0 and 7 are Sunday)"),
            Err(_) => Ok(part.to_owned()),
        }
    };
    let mut items = Vec::new();
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(step)),
            None => (item, None),
        };
        let mut bounds = Vec::new();
        for bound in range.split('-') {
            bounds.push(name(bound)?);
        }
        let mut converted = bounds.join("-");
        // `5-7` became FRI-SUN, which wraps; the crate wants FRI-SAT,SUN.
        if let [from, to] = bounds.as_slice()
            && to == "SUN"
            && from != "SUN"
            && step.is_none()
        {
            converted = format!("{from}-SAT,SUN");
        }
        if let Some(step) = step {
            converted = format!("{converted}/{step}");
        }
        items.push(converted);
    }
    Ok(items.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> i64 {
        DateTime::parse_from_rfc3339(text).map(|t| t.timestamp_millis()).unwrap_or_default()
    }

    #[test]
    fn five_fields_fire_on_the_minute_in_utc() {
        let cron = CronSchedule::parse("*/15 * * * *", "UTC").expect("valid");
        assert_eq!(cron.next_after(ms("2026-01-01T00:07:30Z")), Some(ms("2026-01-01T00:15:00Z")));
        assert_eq!(cron.next_after(ms("2026-01-01T00:15:00Z")), Some(ms("2026-01-01T00:30:00Z")));
    }

    #[test]
    fn weekday_numbers_follow_classic_cron() {
        // 2026-11-29 is a Sunday; "1" is Monday, "0" and "7" are Sunday.
        let monday = CronSchedule::parse("0 9 * * 1", "UTC").expect("valid");
        assert_eq!(monday.next_after(ms("2026-11-28T12:00:00Z")), Some(ms("2026-11-30T09:00:00Z")));
        for sunday in ["0 9 * * 0", "0 9 * * 7", "0 9 * * SUN"] {
            let cron = CronSchedule::parse(sunday, "UTC").expect("valid");
            assert_eq!(cron.next_after(ms("2026-11-28T12:00:00Z")), Some(ms("2026-11-29T09:00:00Z")), "{sunday}");
        }
        let weekend = CronSchedule::parse("0 9 * * 6-7", "UTC").expect("valid");
        assert_eq!(
            weekend.upcoming(ms("2026-11-27T12:00:00Z"), 2),
            vec![ms("2026-11-28T09:00:00Z"), ms("2026-11-29T09:00:00Z")]
        );
    }

    #[test]
    fn time_zones_shift_the_wall_clock() {
        let cron = CronSchedule::parse("0 9 * * *", "Asia/Shanghai").expect("valid");
        assert_eq!(cron.next_after(ms("2026-11-26T00:00:00Z")), Some(ms("2026-11-26T01:00:00Z")));
        let ny = CronSchedule::parse("0 9 * * *", "America/New_York").expect("valid");
        // Daylight saving ends on 2026-11-01: 09:00 EDT then 09:00 EST.
        assert_eq!(
            ny.upcoming(ms("2026-10-31T00:00:00Z"), 2),
            vec![ms("2026-10-31T13:00:00Z"), ms("2026-11-01T14:00:00Z")]
        );
    }

    #[test]
    fn due_times_catch_up_or_keep_only_the_latest() {
        let hourly = CronSchedule::parse("@hourly", "UTC").expect("valid");
        let after = ms("2026-01-01T00:00:00Z");
        let now = ms("2026-01-01T03:30:00Z");
        assert_eq!(
            hourly.due(after, now, true, 100),
            vec![ms("2026-01-01T01:00:00Z"), ms("2026-01-01T02:00:00Z"), ms("2026-01-01T03:00:00Z")]
        );
        assert_eq!(hourly.due(after, now, false, 100), vec![ms("2026-01-01T03:00:00Z")]);
        assert_eq!(hourly.due(after, now, true, 2), vec![ms("2026-01-01T02:00:00Z"), ms("2026-01-01T03:00:00Z")]);
        assert!(hourly.due(now, now + 1000, true, 100).is_empty());
    }

    #[test]
    fn bad_input_says_what_to_write() {
        let err = CronSchedule::parse("every day", "UTC").expect_err("invalid");
        assert!(err.to_string().contains("write five fields"), "{err}");
        let err = CronSchedule::parse("0 9 * * 8", "UTC").expect_err("invalid");
        assert!(err.to_string().contains("weekdays are 0-7"), "{err}");
        let err = CronSchedule::parse("0 9 * * *", "Mars/Olympus").expect_err("invalid");
        assert!(err.to_string().contains("IANA"), "{err}");
    }
}
