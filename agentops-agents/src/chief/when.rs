//! Schedules in plain words, for the rule-based brain: "every weekday at 9:00 send me a
//! status report", "remind me tomorrow at 10 to check the deploy", "every 15 minutes
//! check the queue", "in 2 hours remind me to call Ana".
//!
//! [`parse`] finds when (a cron expression, an interval or one time, read in UTC) and
//! what (a reminder, a status report, or a task for a Seed) and turns them into a
//! [`Action::CreateSchedule`]. Times are read in UTC.

use chrono::{DateTime, Datelike, Duration, NaiveTime, TimeZone, Utc, Weekday};
use serde_json::json;

use super::actions::{Action, NewTask};

/// A schedule asked for in words.
#[derive(Debug, Clone, PartialEq)]
pub struct Asked {
    /// What was understood, for the person.
    pub understood: String,
    /// The schedule to create.
    pub action: Action,
}

const DAYS: [(&str, Weekday, &str); 7] = [
    ("monday", Weekday::Mon, "MON"),
    ("tuesday", Weekday::Tue, "TUE"),
    ("wednesday", Weekday::Wed, "WED"),
    ("thursday", Weekday::Thu, "THU"),
    ("friday", Weekday::Fri, "FRI"),
    ("saturday", Weekday::Sat, "SAT"),
    ("sunday", Weekday::Sun, "SUN"),
];

/// A weekday from a word: `monday`, `mondays`, `mon`.
fn weekday(word: &str) -> Option<(Weekday, &'static str)> {
    let word = word.trim_end_matches('s');
    DAYS.iter()
        .find(|(name, _, _)| word == *name || (word.len() >= 3 && name.starts_with(word)))
        .map(|(_, day, cron)| (*day, *cron))
}

/// A time of day from `9`, `9:30`, `9am`, `9.30pm`, `18h`, `noon`, `midnight` (and the
/// next word if it is `am`/`pm`); how many words it took.
fn time_of_day(words: &[&str]) -> Option<(NaiveTime, usize)> {
    let first = *words.first()?;
    match first {
        "noon" | "midday" => return Some((NaiveTime::from_hms_opt(12, 0, 0)?, 1)),
        "midnight" => return Some((NaiveTime::from_hms_opt(0, 0, 0)?, 1)),
        _ => {}
    }
    let (mut text, mut used) = (first.to_owned(), 1);
    if let Some(next) = words.get(1)
        && matches!(*next, "am" | "pm" | "a.m." | "p.m.")
    {
        text.push_str(next);
        used = 2;
    }
    let text = text.replace("a.m.", "am").replace("p.m.", "pm");
    let (digits, suffix) = match text.strip_suffix("am") {
        Some(d) => (d.to_owned(), Some(false)),
        None => match text.strip_suffix("pm") {
            Some(d) => (d.to_owned(), Some(true)),
            None => (text.trim_end_matches('h').to_owned(), None),
        },
    };
    let (hour, minute) = match digits.split_once([':', '.', 'h']) {
        Some((h, m)) => (h.parse::<u32>().ok()?, m.parse::<u32>().ok()?),
        None => (digits.parse::<u32>().ok()?, 0),
    };
    let hour = match (suffix, hour) {
        (Some(true), h) if h < 12 => h + 12,
        (Some(false), 12) => 0,
        (_, h) => h,
    };
    Some((NaiveTime::from_hms_opt(hour, minute, 0)?, used))
}

/// `2 hours`, `15 minutes`, `a day`: seconds, and how many words it took.
fn span(words: &[&str]) -> Option<(i64, usize)> {
    let (count, unit, used) = match (words.first(), words.get(1)) {
        (Some(n), Some(unit)) if n.parse::<i64>().is_ok() => (n.parse::<i64>().ok()?, *unit, 2),
        (Some(&("a" | "an" | "one")), Some(unit)) => (1, *unit, 2),
        (Some(unit), _) => (1, *unit, 1),
        _ => return None,
    };
    let unit = unit.trim_end_matches('s');
    let size = match unit {
        "second" | "sec" => 1,
        "minute" | "min" => 60,
        "hour" | "hr" | "h" => 3_600,
        "day" => 86_400,
        "week" => 7 * 86_400,
        _ => return None,
    };
    (count > 0).then_some((count * size, used))
}

/// When the words say something should happen.
#[derive(Debug, Clone, PartialEq)]
enum When {
    Cron(String, String),
    Every(i64, String),
    At(DateTime<Utc>),
}

/// Reads a schedule from `text` (see the [module docs](self)), `now` being the time it
/// was said; `None` if it names no time.
pub fn parse(text: &str, now: DateTime<Utc>) -> Option<Asked> {
    let lower = text
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .to_lowercase()
        .replace(',', " ");
    let words: Vec<&str> = lower.split_whitespace().collect();
    // The same words as written, for the task's title.
    let written_text = text
        .trim()
        .trim_end_matches(['.', '!', '?'])
        .replace(',', " ");
    let written: Vec<&str> = written_text.split_whitespace().collect();
    let written = if written.len() == words.len() {
        written
    } else {
        words.clone()
    };
    let mut used = vec![false; words.len()];
    let mut when: Option<When> = None;
    let mut time: Option<NaiveTime> = None;
    let mut day: Option<(Weekday, &str)> = None;
    let mut days_cron: Option<(&str, &str)> = None;
    let mut date_offset: Option<i64> = None;
    let mut i = 0;
    while i < words.len() {
        let word = words[i];
        let rest = &words[i + 1..];
        match word {
            "every" | "each" => {
                used[i] = true;
                match rest.first().copied() {
                    Some("weekday" | "weekdays" | "workday" | "workdays" | "working") => {
                        days_cron = Some(("MON-FRI", "every weekday"));
                        used[i + 1] = true;
                        if rest.get(1) == Some(&"day") {
                            used[i + 2] = true;
                        }
                    }
                    Some("day" | "morning" | "evening" | "night") => {
                        days_cron = Some(("*", "every day"));
                        used[i + 1] = true;
                        time = time.or(match rest[0] {
                            "morning" => NaiveTime::from_hms_opt(9, 0, 0),
                            "evening" => NaiveTime::from_hms_opt(18, 0, 0),
                            "night" => NaiveTime::from_hms_opt(21, 0, 0),
                            _ => None,
                        });
                    }
                    Some("week") => {
                        days_cron = Some(("MON", "every Monday"));
                        used[i + 1] = true;
                    }
                    Some(next) if weekday(next).is_some() => {
                        let (_, cron) = weekday(next)?;
                        days_cron = Some((cron, "every week"));
                        day = weekday(next);
                        used[i + 1] = true;
                    }
                    _ => {
                        if let Some((seconds, n)) = span(rest) {
                            for flag in used.iter_mut().skip(i + 1).take(n) {
                                *flag = true;
                            }
                            when = Some(When::Every(seconds.max(60), words[i..=i + n].join(" ")));
                        }
                    }
                }
            }
            "daily" => {
                days_cron = Some(("*", "every day"));
                used[i] = true;
            }
            "hourly" => {
                when = Some(When::Every(3_600, "every hour".into()));
                used[i] = true;
            }
            "on" if rest.first().is_some_and(|w| weekday(w).is_some()) => {
                used[i] = true;
                used[i + 1] = true;
                let found = weekday(rest[0]);
                if rest[0].ends_with('s') {
                    days_cron = found.map(|(_, cron)| (cron, "every week"));
                } else {
                    day = found;
                }
            }
            "on" if rest.first().is_some_and(|w| *w == "weekdays") => {
                used[i] = true;
                used[i + 1] = true;
                days_cron = Some(("MON-FRI", "every weekday"));
            }
            "at" => {
                if let Some((at, n)) = time_of_day(rest) {
                    time = Some(at);
                    for flag in used.iter_mut().skip(i).take(n + 1) {
                        *flag = true;
                    }
                }
            }
            "tomorrow" => {
                date_offset = Some(1);
                used[i] = true;
            }
            "today" | "tonight" => {
                date_offset = Some(0);
                used[i] = true;
                if word == "tonight" {
                    time = time.or(NaiveTime::from_hms_opt(20, 0, 0));
                }
            }
            "in" => {
                if let Some((seconds, n)) = span(rest)
                    && rest.first().is_some_and(|w| {
                        w.parse::<i64>().is_ok() || matches!(*w, "a" | "an" | "one")
                    })
                {
                    when = Some(When::At(now + Duration::seconds(seconds)));
                    for flag in used.iter_mut().skip(i).take(n + 1) {
                        *flag = true;
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    if when.is_none() {
        if let Some((days, words_for_days)) = days_cron {
            let at = time.unwrap_or(NaiveTime::from_hms_opt(9, 0, 0)?);
            let (hour, minute) = (at.format("%H").to_string(), at.format("%M").to_string());
            let cron = format!(
                "{} {} * * {days}",
                minute.trim_start_matches('0').parse::<u32>().unwrap_or(0),
                hour.trim_start_matches('0').parse::<u32>().unwrap_or(0)
            );
            let words_for_days = if words_for_days == "every week" {
                day.map_or(words_for_days.to_owned(), |(d, _)| format!("every {d}"))
            } else {
                words_for_days.to_owned()
            };
            when = Some(When::Cron(
                cron,
                format!("{words_for_days} at {} UTC", at.format("%H:%M")),
            ));
        } else if date_offset == Some(0) && time.is_none() && day.is_none() {
            // "today" alone names no moment ("anything failed today?" asks about the
            // day); read as 09:00 it would be a schedule before nine and not after.
            return None;
        } else if date_offset.is_some() || day.is_some() || time.is_some() {
            let at = time.unwrap_or(NaiveTime::from_hms_opt(9, 0, 0)?);
            let mut date = now.date_naive() + Duration::days(date_offset.unwrap_or(0));
            if let Some((weekday, _)) = day {
                let ahead = (7 + weekday.num_days_from_monday() as i64
                    - date.weekday().num_days_from_monday() as i64)
                    % 7;
                date += Duration::days(if ahead == 0 { 7 } else { ahead });
            }
            let mut moment = Utc.from_utc_datetime(&date.and_time(at));
            if moment <= now && date_offset.is_none() && day.is_none() {
                moment += Duration::days(1);
            }
            if moment <= now {
                return None;
            }
            when = Some(When::At(moment));
        }
    }
    let when = when?;
    // What is left says what to do.
    let mut what: Vec<(&str, &str)> = words
        .iter()
        .zip(&written)
        .zip(&used)
        .filter(|(_, used)| !**used)
        .map(|((w, original), _)| (*w, *original))
        .collect();
    let reminder = what.first().map(|(w, _)| *w) == Some("remind");
    if reminder {
        what.remove(0);
        if what.first().map(|(w, _)| *w) == Some("me") {
            what.remove(0);
        }
    }
    while matches!(
        what.first().map(|(w, _)| *w),
        Some("to" | "please" | "and" | "then")
    ) {
        what.remove(0);
    }
    while matches!(what.last().map(|(w, _)| *w), Some("please" | "to")) {
        what.pop();
    }
    let lowered = what.iter().map(|(w, _)| *w).collect::<Vec<_>>().join(" ");
    let what = what.iter().map(|(_, o)| *o).collect::<Vec<_>>().join(" ");
    if what.is_empty() {
        return None;
    }
    let report = !reminder && lowered.contains("report") && lowered.contains("status");
    let (title, kind, input, name) = if reminder {
        (
            format!("Remind: {what}"),
            "chief",
            json!({"remind": what}),
            format!("reminder: {what}"),
        )
    } else if report {
        (
            "Status report".to_owned(),
            "chief",
            json!({"report": "status"}),
            "status report".to_owned(),
        )
    } else {
        (
            capitalise(&what),
            "seed",
            serde_json::Value::Null,
            what.clone(),
        )
    };
    let (cron, every_seconds, at, words_for_when) = match &when {
        When::Cron(cron, words) => (Some(cron.clone()), None, None, words.clone()),
        When::Every(seconds, words) => (None, Some(*seconds as u64), None, words.clone()),
        When::At(at) => (
            None,
            None,
            Some(at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            format!("on {}", at.format("%A %Y-%m-%d at %H:%M UTC")),
        ),
    };
    let understood = if reminder {
        format!("a reminder \"{what}\" {words_for_when}")
    } else if report {
        format!("a status report {words_for_when}")
    } else {
        format!("the task \"{what}\" {words_for_when}")
    };
    Some(Asked {
        understood,
        action: Action::CreateSchedule {
            name: truncate(&name, 200),
            project: None,
            task: NewTask {
                title: truncate(&title, 500),
                description: (kind == "seed").then(|| text.trim().to_owned()),
                kind: Some(kind.into()),
                after: Vec::new(),
            },
            input: (!input.is_null()).then_some(input),
            cron,
            every_seconds,
            at,
            time_zone: None,
        },
    })
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn truncate(text: &str, max: usize) -> String {
    text.chars().take(max).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        // A Friday.
        DateTime::parse_from_rfc3339("2026-12-04T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    fn when(
        text: &str,
    ) -> (
        Option<String>,
        Option<u64>,
        Option<String>,
        String,
        Option<String>,
    ) {
        let asked = parse(text, now()).unwrap_or_else(|| panic!("no schedule in {text:?}"));
        let Action::CreateSchedule {
            cron,
            every_seconds,
            at,
            task,
            ..
        } = asked.action
        else {
            panic!("{asked:?}")
        };
        (cron, every_seconds, at, task.title, task.kind)
    }

    #[test]
    fn recurring_phrasings_become_cron_expressions_or_intervals() {
        let cases = [
            (
                "every weekday at 9:00 send me a status report",
                "0 9 * * MON-FRI",
                "Status report",
            ),
            (
                "Every weekday at 9am, send me a status report.",
                "0 9 * * MON-FRI",
                "Status report",
            ),
            (
                "send me a status report every day at 18:30",
                "30 18 * * *",
                "Status report",
            ),
            (
                "every monday at 8 check the invoices",
                "0 8 * * MON",
                "Check the invoices",
            ),
            (
                "on fridays at 5pm back up the database",
                "0 17 * * FRI",
                "Back up the database",
            ),
            (
                "every morning summarise the news",
                "0 9 * * *",
                "Summarise the news",
            ),
            (
                "daily at noon water the plants",
                "0 12 * * *",
                "Water the plants",
            ),
            (
                "every week send me a status report",
                "0 9 * * MON",
                "Status report",
            ),
        ];
        for (text, cron, title) in cases {
            let (got_cron, every, at, got_title, _) = when(text);
            assert_eq!(got_cron.as_deref(), Some(cron), "{text}");
            assert_eq!((every, at), (None, None), "{text}");
            assert_eq!(got_title, title, "{text}");
        }
        assert_eq!(when("every 15 minutes check the queue").1, Some(900));
        assert_eq!(when("every hour ping the site").1, Some(3_600));
        assert_eq!(when("check the backups hourly").1, Some(3_600));
        assert_eq!(when("every 2 days rotate the logs").1, Some(172_800));
    }

    #[test]
    fn one_time_phrasings_become_a_time() {
        let cases = [
            (
                "remind me tomorrow at 10 to check the deploy",
                "2026-12-05T10:00:00Z",
                "Remind: check the deploy",
            ),
            (
                "remind me to call Ana in 2 hours",
                "2026-12-04T12:00:00Z",
                "Remind: call Ana",
            ),
            (
                "remind me at 17:30 to leave",
                "2026-12-04T17:30:00Z",
                "Remind: leave",
            ),
            (
                "remind me at 9 to stretch",
                "2026-12-05T09:00:00Z",
                "Remind: stretch",
            ),
            (
                "on monday at 9 remind me to plan the week",
                "2026-12-07T09:00:00Z",
                "Remind: plan the week",
            ),
            (
                "tomorrow at 6pm run the release checklist",
                "2026-12-05T18:00:00Z",
                "Run the release checklist",
            ),
        ];
        for (text, at, title) in cases {
            let (cron, every, got_at, got_title, kind) = when(text);
            assert_eq!((cron, every), (None, None), "{text}");
            assert_eq!(got_at.as_deref(), Some(at), "{text}");
            assert_eq!(got_title, title, "{text}");
            assert_eq!(
                kind.as_deref(),
                Some(if title.starts_with("Remind") {
                    "chief"
                } else {
                    "seed"
                })
            );
        }
    }

    #[test]
    fn texts_without_a_time_or_a_task_are_not_schedules() {
        for text in [
            "create project Website",
            "status",
            "every",
            "remind me tomorrow",
            "what's blocked?",
        ] {
            assert!(parse(text, now()).is_none(), "{text}");
        }
        // "today" without a time asks about the day, at any hour.
        for hour in [0, 8, 12, 23] {
            let at = Utc.with_ymd_and_hms(2026, 12, 4, hour, 30, 0).unwrap();
            for text in [
                "anything failed today?",
                "what got done today",
                "ship it today",
            ] {
                assert!(parse(text, at).is_none(), "{text} at {hour}:30");
            }
        }
        assert!(parse("remind me today at 17:00 to call Ana", now()).is_some());
    }
}
