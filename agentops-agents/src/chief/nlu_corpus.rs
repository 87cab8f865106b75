//! The offline brain's corpus: how people phrase things, and what [`parse`] must read.
//!
//! Each line is a phrasing and its reading in a compact form ([`show`]):
//! `create "Name": a; b<a` is a new project whose task `b` waits for `a`;
//! `add P: a | ?: a` two readings (tasks in `P`, or in a project still to ask for);
//! `report subject=X focus=blocked since=today`; `unblock #code note=…`. The phrasings
//! were written the way people write to a chat bot (case, punctuation, filler, typos
//! of spacing), not from the parser.

use chrono::{TimeZone, Utc};

use super::*;

fn show(intent: &Intent) -> String {
    let tasks = |tasks: &[NewTask]| {
        tasks
            .iter()
            .map(|t| {
                if t.after.is_empty() {
                    t.title.clone()
                } else {
                    format!("{}<{}", t.title, t.after.join(","))
                }
            })
            .collect::<Vec<_>>()
            .join("; ")
    };
    let task_ref = |r: &TaskRef| match r {
        TaskRef::Code(c) => format!("#{c}"),
        TaskRef::Title(t) => format!("\"{t}\""),
        TaskRef::TheBlocked => "blocked".into(),
    };
    match intent {
        Intent::Help => "help".into(),
        Intent::Greeting => "greeting".into(),
        Intent::Thanks => "thanks".into(),
        Intent::Yes => "yes".into(),
        Intent::No => "no".into(),
        Intent::Projects => "projects".into(),
        Intent::Agents { working } => if *working { "agents working" } else { "agents" }.into(),
        Intent::Schedules => "schedules".into(),
        Intent::Report(r) => {
            let mut s = String::from("report");
            if let Some(subject) = &r.subject {
                s.push_str(&format!(" subject={subject}"));
            }
            if r.focus != Focus::Overview {
                s.push_str(&format!(" focus={:?}", r.focus).to_lowercase());
            }
            if r.since != Since::Ever {
                s.push_str(&format!(" since={:?}", r.since).to_lowercase());
            }
            s
        }
        Intent::CreateProject { name, tasks: list } => {
            if list.is_empty() {
                format!("create \"{name}\"")
            } else {
                format!("create \"{name}\": {}", tasks(list))
            }
        }
        Intent::AddTasks { readings } => format!(
            "add {}",
            readings
                .iter()
                .map(|r| format!(
                    "{}{}: {}",
                    if r.new_project { "+" } else { "" },
                    if r.project.is_empty() {
                        "?"
                    } else {
                        &r.project
                    },
                    tasks(&r.tasks)
                ))
                .collect::<Vec<_>>()
                .join(" | ")
        ),
        Intent::Unblock { task, note } => match note {
            Some(note) => format!("unblock {} note={note}", task_ref(task)),
            None => format!("unblock {}", task_ref(task)),
        },
        Intent::Cancel { target } => format!("cancel {}", task_ref(target)),
        Intent::Pause { target } => format!("pause {target}"),
        Intent::Resume { target } => format!("resume {}", task_ref(target)),
        Intent::Schedule { action, .. } => match action {
            Action::CreateSchedule {
                cron,
                every_seconds,
                at,
                ..
            } => format!(
                "schedule {}",
                cron.clone()
                    .or(every_seconds.map(|s| format!("every {s}s")))
                    .or(at.clone())
                    .unwrap_or_default()
            ),
            other => format!("schedule {other:?}"),
        },
        Intent::Wish { work, .. } => format!("wish \"{work}\""),
        Intent::Unknown { .. } => "unknown".into(),
    }
}

/// (phrasing, reading).
const CORPUS: &[(&str, &str)] = &[
    // Help, greetings, thanks, yes and no.
    ("help", "help"),
    ("/help", "help"),
    ("/start", "help"),
    ("What can you do?", "help"),
    ("what can you do for me", "help"),
    ("how does this work?", "help"),
    ("who are you", "help"),
    ("?", "help"),
    ("", "help"),
    ("hi", "greeting"),
    ("Hello!", "greeting"),
    ("hey there", "greeting"),
    ("Good morning, Chief", "greeting"),
    ("hi, how are you?", "greeting"),
    ("yo", "greeting"),
    ("thanks", "thanks"),
    ("Thank you!", "thanks"),
    ("thx", "thanks"),
    ("great, thanks!", "thanks"),
    ("ok thanks", "thanks"),
    ("perfect, thank you so much", "thanks"),
    ("cheers", "thanks"),
    ("yes", "yes"),
    ("Yes please", "yes"),
    ("sure", "yes"),
    ("yep", "yes"),
    ("no", "no"),
    ("nope", "no"),
    ("never mind", "no"),
    // Projects.
    ("projects", "projects"),
    ("/projects", "projects"),
    ("what projects do we have?", "projects"),
    ("list projects", "projects"),
    ("show me the projects", "projects"),
    ("which projects are there", "projects"),
    ("how many projects do we have", "projects"),
    ("List all projects please", "projects"),
    ("what are our projects", "projects"),
    // Agents.
    ("agents", "agents"),
    ("/agents", "agents"),
    ("which agents are online?", "agents"),
    ("list the agents", "agents"),
    ("show me all workers", "agents"),
    ("who is working right now?", "agents working"),
    ("who's working on stuff?", "agents working"),
    ("is anyone busy", "agents working"),
    ("what are the agents doing?", "agents working"),
    ("any seeds online", "agents"),
    // Status questions.
    ("status", "report"),
    ("/status", "report"),
    ("status?", "report"),
    ("give me a status update", "report"),
    ("how is everything going?", "report"),
    ("what's going on", "report"),
    ("how are things", "report"),
    ("where are we?", "report"),
    ("quick summary please", "report"),
    ("how is Website going?", "report subject=Website"),
    (
        "how's the website project coming along",
        "report subject=website",
    ),
    ("What's the status of Launch?", "report subject=Launch"),
    ("status of Website", "report subject=Website"),
    ("status Website", "report subject=Website"),
    ("Website status", "report subject=Website"),
    ("update on the Q3 report", "report subject=Q3 report"),
    (
        "progress on Website redesign?",
        "report subject=Website redesign",
    ),
    ("what's happening with Launch", "report subject=Launch"),
    ("tasks in Website", "report subject=Website"),
    ("show tasks of Website", "report subject=Website"),
    ("what's left in Launch?", "report subject=Launch"),
    ("where are we with the Website?", "report subject=Website"),
    ("what's blocked?", "report focus=blocked"),
    ("anything blocked", "report focus=blocked"),
    ("is anything stuck?", "report focus=blocked"),
    ("what needs my attention", "report focus=blocked"),
    ("what is waiting on me?", "report focus=blocked"),
    (
        "what's blocked in Website?",
        "report subject=Website focus=blocked",
    ),
    ("anything failed today?", "report focus=failed since=today"),
    ("did anything fail?", "report focus=failed"),
    (
        "what went wrong yesterday",
        "report focus=failed since=yesterday",
    ),
    ("any failures this week?", "report focus=failed since=week"),
    ("show me failed tasks", "report focus=failed"),
    (
        "what failed in the last 3 hours",
        "report focus=failed since=hours(3)",
    ),
    ("what's running?", "report focus=running"),
    ("what is in progress right now", "report focus=running"),
    ("what's queued", "report focus=queued"),
    ("what is left to do?", "report focus=queued"),
    ("what got done today?", "report focus=done since=today"),
    (
        "what did we finish this week",
        "report focus=done since=week",
    ),
    ("status #54703c", "report subject=#54703c"),
    ("how is #54703c doing?", "report subject=#54703c"),
    ("#a1b2c3", "report subject=#a1b2c3"),
    ("what about task #a1b2c3?", "report subject=#a1b2c3"),
    // Creating projects, with tasks and their order.
    ("create project Website", "create \"Website\""),
    ("Create a project called Website.", "create \"Website\""),
    ("new project: Website", "create \"Website\""),
    (
        "start a new project named \"Launch Plan\"",
        "create \"Launch Plan\"",
    ),
    (
        "let's kick off a new project called Launch",
        "create \"Launch\"",
    ),
    (
        "I want to start a project called Website",
        "create \"Website\"",
    ),
    (
        "can you set up a project for the website redesign?",
        "create \"website redesign\"",
    ),
    ("please create a new project Website", "create \"Website\""),
    (
        "create a project Website with tasks: write copy, build page after write copy",
        "create \"Website\": write copy; build page<write copy",
    ),
    (
        "create project Launch with tasks draft then review, tweet",
        "create \"Launch\": draft; review<draft; tweet",
    ),
    (
        "new project Website with write copy and build page",
        "create \"Website\": write copy; build page",
    ),
    (
        "Create project Website: design, build, test in order",
        "create \"Website\": design; build<design; test<build",
    ),
    (
        "create project Blog with tasks first research, then draft, then publish",
        "create \"Blog\": research; draft<research; publish<draft",
    ),
    (
        "new project Website\n1. write copy\n2. design mockups\n3. build page after write copy",
        "create \"Website\": write copy; design mockups; build page<write copy",
    ),
    (
        "new project Website\n- write copy\n- build page",
        "create \"Website\": write copy; build page",
    ),
    (
        "start project \"Q1 Report\" with tasks \"collect numbers, all regions\", \"write summary\"",
        "create \"Q1 Report\": collect numbers, all regions; write summary",
    ),
    (
        "create a project called Launch with the following tasks: write the press release; email partners; tweet after write the press release",
        "create \"Launch\": write the press release; email partners; tweet<write the press release",
    ),
    (
        "create project Website with tasks build page, write copy before build page",
        "create \"Website\": write copy; build page<write copy",
    ),
    (
        "Create project Move with tasks pack boxes, hire van and once pack boxes is done, load van",
        "create \"Move\": pack boxes; hire van; load van<pack boxes",
    ),
    (
        "create project Ops with tasks deploy after lunch",
        "create \"Ops\": deploy after lunch",
    ),
    (
        "create project Site. Tasks: write copy, build page",
        "create \"Site\": write copy; build page",
    ),
    (
        "Make a project 'Newsletter' with tasks collect links & write intro",
        "create \"Newsletter\": collect links; write intro",
    ),
    (
        "project Website with tasks write copy, review copy (after write copy)",
        "create \"Website\": write copy; review copy<write copy",
    ),
    (
        "create project Research with tasks read papers, summarise them followed by present findings",
        "create \"Research\": read papers; summarise them; present findings<summarise them",
    ),
    (
        "spin up a project Docs with tasks outline, write and then edit",
        "create \"Docs\": outline; write; edit<write",
    ),
    (
        "create project App with tasks backend, frontend which depends on backend",
        "create \"App\": backend; frontend<backend",
    ),
    (
        "create project Gym with tasks stretch every day, run at 7",
        "create \"Gym\": stretch every day; run at 7",
    ),
    // Adding tasks, in several word orders.
    ("add task write copy to Website", "add Website: write copy"),
    (
        "add a task called \"fix the footer\" to the Website project",
        "add Website: fix the footer",
    ),
    (
        "Add write copy and build page to Website",
        "add Website: write copy; build page",
    ),
    (
        "new task for Website: write copy",
        "add Website: write copy",
    ),
    (
        "add to Website: write copy, build page",
        "add Website: write copy; build page",
    ),
    (
        "in Website, add a task to write copy",
        "add Website: write copy",
    ),
    (
        "add tasks to Launch: draft, review after draft",
        "add Launch: draft; review<draft",
    ),
    (
        "create a task review copy in Website",
        "add Website: review copy",
    ),
    (
        "add task write intro to the blog to Website",
        "add Website: write intro to the blog | blog to Website: write intro",
    ),
    (
        "put send invoices in a new project Billing",
        "add +Billing: send invoices",
    ),
    ("add a task to write copy", "add ?: write copy"),
    (
        "please add a new task \"call Ana\" to Sales",
        "add Sales: call Ana",
    ),
    // Unblocking.
    ("unblock #54703c", "unblock #54703c"),
    (
        "unblock #54703c with use the blue logo",
        "unblock #54703c note=use the blue logo",
    ),
    (
        "Unblock 54703c: go with option B",
        "unblock #54703c note=go with option B",
    ),
    (
        "answer #54703c: yes, publish it",
        "unblock #54703c note=yes, publish it",
    ),
    (
        "reply to #54703c saying use plan B",
        "unblock #54703c note=use plan B",
    ),
    ("the answer to #54703c is 42", "unblock #54703c note=42"),
    (
        "unblock write copy with use a friendly tone",
        "unblock \"write copy\" note=use a friendly tone",
    ),
    ("unblock the task \"build page\"", "unblock \"build page\""),
    ("unblock it", "unblock blocked"),
    (
        "unblock the blocked task with yes",
        "unblock blocked note=yes",
    ),
    (
        "please unblock #54703c - use the staging server",
        "unblock #54703c note=use the staging server",
    ),
    // Cancelling, pausing, resuming.
    ("cancel #54703c", "cancel #54703c"),
    ("Cancel task #54703c please", "cancel #54703c"),
    ("stop #54703c", "cancel #54703c"),
    ("kill the task build page", "cancel \"build page\""),
    ("cancel write copy", "cancel \"write copy\""),
    ("stop the daily report", "cancel \"daily report\""),
    ("drop build page", "cancel \"build page\""),
    ("pause the weekly report", "pause the weekly report"),
    (
        "turn off the standup reminder",
        "pause the standup reminder",
    ),
    ("resume the weekly report", "resume \"weekly report\""),
    (
        "restart the standup reminder",
        "resume \"standup reminder\"",
    ),
    ("continue #54703c", "resume #54703c"),
    // Schedules.
    ("my schedules", "schedules"),
    ("what reminders do I have?", "schedules"),
    ("list schedules", "schedules"),
    ("show my scheduled stuff", "schedules"),
    (
        "every weekday at 9:00 send me a status report",
        "schedule 0 9 * * MON-FRI",
    ),
    (
        "remind me every monday at 10 to review the roadmap",
        "schedule 0 10 * * MON",
    ),
    ("every 15 minutes check the queue", "schedule every 900s"),
    (
        "remind me tomorrow at 10 to call Ana",
        "schedule 2026-12-05T10:00:00Z",
    ),
    (
        "in 2 hours remind me to stretch",
        "schedule 2026-12-04T14:00:00Z",
    ),
    // Wishes for work: asked back.
    (
        "I need a landing page for our launch",
        "wish \"Landing page for our launch\"",
    ),
    (
        "we need to migrate the database",
        "wish \"Migrate the database\"",
    ),
    (
        "I'd like a report on our competitors",
        "wish \"Report on our competitors\"",
    ),
    (
        "let's write a blog post about the release",
        "wish \"Write a blog post about the release\"",
    ),
    (
        "write a blog post about our launch",
        "wish \"Write a blog post about our launch\"",
    ),
    (
        "research the best CRM for a small team",
        "wish \"Research the best CRM for a small team\"",
    ),
    (
        "can you translate the docs into German?",
        "wish \"Translate the docs into German\"",
    ),
    (
        "we should fix the signup bug",
        "wish \"Fix the signup bug\"",
    ),
    ("Help me plan the offsite", "wish \"Plan the offsite\""),
    ("could we get a new logo", "wish \"New logo\""),
    // Polite filler and noise do not change a reading.
    ("hey chief, could you please list the projects?", "projects"),
    ("Hi! what's blocked?", "report focus=blocked"),
    ("ok so how is Website going", "report subject=Website"),
    ("  STATUS  ", "report"),
    ("/status@agentops_bot", "report"),
    (
        "Please, create project Website with tasks a, b.",
        "create \"Website\": a; b",
    ),
    ("um, cancel #54703c", "cancel #54703c"),
    // Nothing to read.
    ("blah", "unknown"),
    ("the weather is nice", "unknown"),
    ("Website", "unknown"),
];

/// Phrasings written independently of the parser (by a reviewer who did not read it),
/// with the readings they expected. The parser's first pass read 65 of these 80 right;
/// the misses were fixed by general rules (a "yes" made of yes-words, a project named
/// before an add verb, "after A and B", a dependency that starts with a verb being a
/// task of its own, a code followed by a reason), not by listing these sentences.
const WRITTEN_INDEPENDENTLY: &[(&str, &str)] = &[
    ("help", "help"),
    ("what can you do?", "help"),
    ("hi", "greeting"),
    ("Good morning!", "greeting"),
    ("thanks!", "thanks"),
    ("thank you so much", "thanks"),
    ("yes", "yes"),
    ("yep, go ahead", "yes"),
    ("no", "no"),
    ("nope, not now", "no"),
    ("list my projects", "projects"),
    ("what projects do we have?", "projects"),
    ("Show me all projects", "projects"),
    ("which projects are there", "projects"),
    ("projects", "projects"),
    ("which agents are online?", "agents"),
    ("list the agents", "agents"),
    ("what agents do I have", "agents"),
    ("show agents", "agents"),
    ("who is working right now?", "agents working"),
    ("which agents are busy at the moment", "agents working"),
    ("is anyone working on something right now", "agents working"),
    ("who's busy?", "agents working"),
    ("how are things going?", "report"),
    ("give me a status update", "report"),
    (
        "how is the Website project doing?",
        "report subject=Website",
    ),
    ("status of Launch", "report subject=Launch"),
    (
        "any update on the Billing project?",
        "report subject=Billing",
    ),
    ("what's blocked?", "report focus=blocked"),
    ("show me failed tasks", "report focus=failed"),
    ("which tasks are running?", "report focus=running"),
    ("what's still queued", "report focus=queued"),
    ("what got done today?", "report focus=done since=today"),
    (
        "anything fail since yesterday",
        "report focus=failed since=yesterday",
    ),
    (
        "what did we finish this week",
        "report focus=done since=week",
    ),
    (
        "what failed in the last 3 hours?",
        "report focus=failed since=hours(3)",
    ),
    (
        "what's been done in the last 2 hours",
        "report focus=done since=hours(2)",
    ),
    (
        "any blocked tasks in Website?",
        "report subject=Website focus=blocked",
    ),
    (
        "what failed on Billing today",
        "report subject=Billing focus=failed since=today",
    ),
    ("what's the status of #a1b2c3", "report subject=#a1b2c3"),
    ("how is task #9f8e7d going?", "report subject=#9f8e7d"),
    (
        "create a project called \"Q3 Newsletter\"",
        "create \"Q3 Newsletter\"",
    ),
    (
        "new project Mobile App Redesign",
        "create \"Mobile App Redesign\"",
    ),
    (
        "Please create a new project Holiday Campaign.",
        "create \"Holiday Campaign\"",
    ),
    (
        "Create project Onboarding Revamp with tasks draft outline, review copy and publish guide",
        "create \"Onboarding Revamp\": draft outline; review copy; publish guide",
    ),
    (
        "start a project Podcast Launch: record pilot, then edit pilot, then publish pilot",
        "create \"Podcast Launch\": record pilot; edit pilot<record pilot; publish pilot<edit pilot",
    ),
    (
        "create project Hiring Push: first write job post, then post on LinkedIn",
        "create \"Hiring Push\": write job post; post on LinkedIn<write job post",
    ),
    (
        "make a new project called Conference 2025 with tasks book venue, order swag and send invites after book venue",
        "create \"Conference 2025\": book venue; order swag; send invites<book venue",
    ),
    (
        "create a project named Data Migration: export old db, clean data, import into new db after export old db and clean data",
        "create \"Data Migration\": export old db; clean data; import into new db<export old db,clean data",
    ),
    (
        "create project Security Audit in order: scan dependencies, review findings, patch issues",
        "create \"Security Audit\": scan dependencies; review findings<scan dependencies; patch issues<review findings",
    ),
    (
        "create a project Blog Relaunch: migrate posts after design new theme",
        "create \"Blog Relaunch\": design new theme; migrate posts<design new theme",
    ),
    ("add task write copy to Website", "add Website: write copy"),
    (
        "add to the Launch project: prepare press kit, schedule tweets",
        "add Launch: prepare press kit; schedule tweets",
    ),
    (
        "in Billing add fix invoice rounding and update tax rates",
        "add Billing: fix invoice rounding; update tax rates",
    ),
    ("in Website, add fix footer", "add Website: fix footer"),
    (
        "in Website, add task fix footer to Blog",
        "add Blog: fix footer | Website: fix footer to Blog",
    ),
    (
        "for the Website project: create a task to update the pricing table",
        "add Website: update the pricing table",
    ),
    (
        "please add a task to the Website project: update footer links",
        "add Website: update footer links",
    ),
    (
        "add 'record demo video' to Launch",
        "add Launch: record demo video",
    ),
    (
        "add tasks to Website: fix mobile nav, compress images",
        "add Website: fix mobile nav; compress images",
    ),
    ("unblock #a1b2c3", "unblock #a1b2c3"),
    ("you can unblock #c4d5e6", "unblock #c4d5e6"),
    (
        "unblock #7f3a9b: the API key is in the vault",
        "unblock #7f3a9b note=the API key is in the vault",
    ),
    (
        "answer for #b2c3d4: use the blue logo",
        "unblock #b2c3d4 note=use the blue logo",
    ),
    (
        "unblock write copy, the tone should be friendly",
        "unblock \"write copy\" note=the tone should be friendly",
    ),
    (
        "Unblock task \"choose hosting\" - go with AWS",
        "unblock \"choose hosting\" note=go with AWS",
    ),
    (
        "please unblock #0a1b2c with note: budget approved",
        "unblock #0a1b2c note=budget approved",
    ),
    ("cancel #a1b2c3", "cancel #a1b2c3"),
    ("please cancel task #d4e5f6", "cancel #d4e5f6"),
    ("stop the task \"order swag\"", "cancel \"order swag\""),
    (
        "cancel write press release",
        "cancel \"write press release\"",
    ),
    ("drop #e5f6a7, we don't need it anymore", "cancel #e5f6a7"),
    ("show my schedules", "schedules"),
    ("what reminders do I have?", "schedules"),
    ("list scheduled jobs", "schedules"),
    ("any reminders set up", "schedules"),
    (
        "I need a landing page for our launch",
        "wish \"Landing page for our launch\"",
    ),
    (
        "we need to migrate our blog to Ghost",
        "wish \"Migrate our blog to Ghost\"",
    ),
    (
        "we need an onboarding email sequence",
        "wish \"Onboarding email sequence\"",
    ),
    (
        "I want to translate the docs into Spanish",
        "wish \"Translate the docs into Spanish\"",
    ),
    (
        "Need a logo for the podcast",
        "wish \"Logo for the podcast\"",
    ),
    (
        "it would be great to have a competitor analysis for Q3",
        "wish \"Competitor analysis for Q3\"",
    ),
    (
        "I'd like a short explainer video for the homepage",
        "wish \"Short explainer video for the homepage\"",
    ),
];

/// A second set written independently, after the first was in, in the style of busy
/// operators writing to a bot ("status pls", "can u …", "thx mate 🙏"). The parser
/// read 48 of these 70 right at first; the misses were fixed by general rules (chat
/// shorthand spelled out, trailing emoji, a question mark kept as a sign of a question,
/// "after both", numbers inside a line, "P needs 2 more tasks: …", "tell it …", a
/// quoted title followed by more words), not by listing these sentences.
const WRITTEN_INDEPENDENTLY_TERSE: &[(&str, &str)] = &[
    ("what can u do?", "help"),
    ("how does this thing work, im a bit lost", "help"),
    ("commands list pls", "help"),
    ("hi there", "greeting"),
    ("good morning!", "greeting"),
    ("hey 👋", "greeting"),
    ("thx mate", "thanks"),
    ("cheers, that's brilliant", "thanks"),
    ("ok thank u so much 🙏", "thanks"),
    ("yes pls go ahead", "yes"),
    ("yep do it", "yes"),
    ("sure, sounds good", "yes"),
    ("no dont", "no"),
    ("nope, leave it", "no"),
    ("nah not now", "no"),
    ("list my projects", "projects"),
    ("what projects have we got?", "projects"),
    ("show all projects pls", "projects"),
    ("projects?", "projects"),
    ("can u give me the list of projects", "projects"),
    ("which agents are online", "agents"),
    ("show me the agents", "agents"),
    ("list agents plz", "agents"),
    ("are any agents online?", "agents"),
    ("who is busy right now", "agents working"),
    ("which agents are working at the moment", "agents working"),
    ("anyone working on stuff now?", "agents working"),
    ("who's busy atm", "agents working"),
    ("status pls", "report"),
    ("how are things going overall", "report"),
    ("any update on Website?", "report subject=Website"),
    (
        "how's the Q3 Launch project doing",
        "report subject=Q3 Launch",
    ),
    ("blocked?", "report focus=blocked"),
    (
        "what failed yesterday",
        "report focus=failed since=yesterday",
    ),
    ("what got done today!", "report focus=done since=today"),
    ("status of #7e4d21", "report subject=#7e4d21"),
    (
        "whats running on Mobile App right now",
        "report subject=Mobile App focus=running",
    ),
    ("what happened in the last 3 hours", "report since=hours(3)"),
    ("whats queued this week", "report focus=queued since=week"),
    (
        "create a project called Garden Party",
        "create \"Garden Party\"",
    ),
    ("new project: Office Move", "create \"Office Move\""),
    (
        "start a project Spring Sale with tasks design banner, write copy and launch ads after both",
        "create \"Spring Sale\": design banner; write copy; launch ads<design banner,write copy",
    ),
    (
        "pls set up project Blog Relaunch: 1. pick theme 2. migrate posts (after pick theme)",
        "create \"Blog Relaunch\": pick theme; migrate posts<pick theme",
    ),
    (
        "make a new project Hiring Q4 - tasks: write job ad; post job ad after write job ad; screen cvs",
        "create \"Hiring Q4\": write job ad; post job ad<write job ad; screen cvs",
    ),
    (
        "can u create project \"Newsletter\" with one task finalise colours",
        "create \"Newsletter\": finalise colours",
    ),
    (
        "new project Kitchen Reno, first get quotes then hire builder then order tiles",
        "create \"Kitchen Reno\": get quotes; hire builder<get quotes; order tiles<hire builder",
    ),
    (
        "add to Website: fix footer, update logo",
        "add Website: fix footer; update logo",
    ),
    (
        "pls add task 'translate homepage' to Website",
        "add Website: translate homepage",
    ),
    (
        "for Spring Sale also add email blast and social posts",
        "add Spring Sale: email blast; social posts",
    ),
    (
        "put book venue in the Garden Party project",
        "add Garden Party: book venue",
    ),
    (
        "Office Move needs 2 more tasks: label boxes, hire van",
        "add Office Move: label boxes; hire van",
    ),
    ("unblock #a1b2c3", "unblock #a1b2c3"),
    (
        "unblock #9f8e7d, the answer is use the blue logo",
        "unblock #9f8e7d note=use the blue logo",
    ),
    (
        "for the blocked one tell it budget is 500 GBP",
        "unblock blocked note=budget is 500 GBP",
    ),
    (
        "unblock write copy, tone should be friendly",
        "unblock \"write copy\" note=tone should be friendly",
    ),
    ("go ahead and unblock it", "unblock blocked"),
    (
        "answer for the blocked one: deadline is friday",
        "unblock blocked note=deadline is friday",
    ),
    ("cancel #c0ffee", "cancel #c0ffee"),
    ("pls cancel the task order tiles", "cancel \"order tiles\""),
    ("kill #abc123 its not needed anymore", "cancel #abc123"),
    (
        "scrap 'social posts' task, we dont need it",
        "cancel \"social posts\"",
    ),
    ("stop task #12ab34 plz", "cancel #12ab34"),
    ("show schedules", "schedules"),
    ("what's scheduled? list my recurring jobs", "schedules"),
    ("which schedules do i have set up", "schedules"),
    ("my schedules pls", "schedules"),
    (
        "i need someone to sort out our social media",
        "wish \"Sort out our social media\"",
    ),
    (
        "would be nice to have a better onboarding flow",
        "wish \"Better onboarding flow\"",
    ),
    (
        "can someone look into why sales are down",
        "wish \"Look into why sales are down\"",
    ),
    (
        "i want to improve website speed",
        "wish \"Improve website speed\"",
    ),
];

#[test]
fn the_corpus_reads_as_written() {
    let now = Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap();
    let mut wrong = Vec::new();
    for (text, expected) in CORPUS
        .iter()
        .chain(WRITTEN_INDEPENDENTLY)
        .chain(WRITTEN_INDEPENDENTLY_TERSE)
    {
        let got = show(&parse(text, now));
        if got != *expected {
            wrong.push(format!(
                "{text:?}\n   expected: {expected}\n   got:      {got}"
            ));
        }
    }
    let total = CORPUS.len() + WRITTEN_INDEPENDENTLY.len() + WRITTEN_INDEPENDENTLY_TERSE.len();
    assert!(total >= 150, "the corpus has {total} phrasings");
    assert!(
        wrong.is_empty(),
        "{} of {total} phrasings read wrong:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}

#[test]
fn task_lists_keep_every_dependency_before_its_task() {
    // Whatever the phrasing, every `after` names a task listed before it.
    let phrasings = [
        "build page after write copy, write copy",
        "c after b, b after a, a",
        "a before b, b before c",
        "a, b after a, a after b",
        "x then y then z, w after z",
    ];
    for text in phrasings {
        let tasks = task_list(text);
        let mut seen: Vec<&str> = Vec::new();
        for task in &tasks {
            for after in &task.after {
                assert!(seen.contains(&after.as_str()), "{text}: {tasks:?}");
            }
            seen.push(&task.title);
        }
    }
}

#[test]
fn a_spoken_run_takes_the_command_after_it() {
    // "run:" said aloud comes back from speech to text as "run,".
    let titles =
        |text: &str| -> Vec<String> { task_list(text).into_iter().map(|t| t.title).collect() };
    assert_eq!(titles("run, echo hello"), ["run echo hello"]);
    assert_eq!(
        titles("write notes, run, make test"),
        ["write notes", "run make test"]
    );
    assert_eq!(titles("run: echo hello"), ["run: echo hello"]);
}

#[test]
fn the_busy_policy_is_read_from_plain_words() {
    use agentops_sdk::types::Multitask::{Enqueue, Interrupt, Reject};
    for (text, expected) in [
        ("/busy reject", Some(Reject)),
        ("busy: interrupt", Some(Interrupt)),
        ("/busy enqueue", Some(Enqueue)),
        (
            "if I write while you're working, stop and read it",
            Some(Interrupt),
        ),
        ("while you are busy, queue my messages", Some(Enqueue)),
        ("When you're busy just tell me you're busy", Some(Reject)),
        (
            "if I double text, interrupt what you're doing",
            Some(Interrupt),
        ),
        (
            "while you work, wait and do them one at a time",
            Some(Enqueue),
        ),
        ("what's blocked?", None),
        ("stop the daily report", None),
        ("queue a task to write copy", None),
    ] {
        assert_eq!(multitask_setting(text), expected, "{text}");
    }
}

#[test]
fn progress_lines_are_turned_on_and_off_in_plain_words() {
    for (text, expected) in [
        ("/progress off", Some(false)),
        ("progress: on", Some(true)),
        ("Progress updates off.", Some(false)),
        ("no progress updates please", Some(false)),
        ("Please, stop sending me updates!", Some(false)),
        ("don't send progress updates", Some(false)),
        ("just tell me when it's done", Some(false)),
        ("OK, only tell me when it is finished!", Some(false)),
        ("keep me posted", Some(true)),
        ("Keep me posted please.", Some(true)),
        ("send me progress updates", Some(true)),
        ("what's the progress on Website?", None),
        ("how is the progress", None),
        ("give me an update", None),
        ("update the README", None),
        ("add task write progress report to Website", None),
        ("no progress on Website since Monday", None),
        ("progress on Website", None),
        // Work that mentions updates is work (a review found these read as settings).
        ("Any updates on the login bug", None),
        ("Give me the latest updates on Website", None),
        ("Install the security updates on web-1", None),
        ("Send Anna a progress report", None),
        ("Check for system updates but don't install them", None),
        ("Turn off automatic updates", None),
        ("No updates from the Website team since Monday", None),
        ("no, don't install the updates", None),
        ("stop the daily report", None),
        ("no", None),
    ] {
        assert_eq!(progress_setting(text), expected, "{text}");
    }
    // No phrasing of the corpus (requests, questions, answers) is taken for the setting.
    for (text, _) in CORPUS
        .iter()
        .chain(WRITTEN_INDEPENDENTLY)
        .chain(WRITTEN_INDEPENDENTLY_TERSE)
    {
        assert_eq!(progress_setting(text), None, "{text}");
    }
}

#[test]
fn near_names_are_a_short_distance_apart() {
    assert_eq!(distance("Webiste", "Website"), 2);
    assert_eq!(distance("launch", "Launch"), 1);
    assert_eq!(distance("", "abc"), 3);
}

#[test]
fn long_and_odd_messages_read_without_panicking() {
    let now = Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap();
    let long_add = format!("add {} to Website", "write to me, ".repeat(2_500));
    let long_create = format!(
        "create project Big with tasks {}",
        "a after b and c before d, \"x, y\" then ".repeat(800)
    );
    for text in [
        long_add.as_str(),
        long_create.as_str(),
        "ünïcödé prøject — créer « projet » 🎉",
        "create project Café with tasks écrire, relire après écrire",
        "unblock #é",
        "add ☃ to ❄",
        "status of 日本",
        "\"\"\"\"",
        "((((1) step 1: - * •",
        "@@@ /busy@",
        "after after after",
    ] {
        let _ = parse(text, now);
    }
    match parse(
        "create project Café with tasks écrire, relire après écrire",
        now,
    ) {
        Intent::CreateProject { name, tasks } => {
            assert_eq!(name, "Café");
            assert_eq!(tasks.len(), 2);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn inputs_a_review_found_harmful_read_safely() {
    let now = Utc.with_ymd_and_hms(2026, 12, 4, 12, 0, 0).unwrap();
    // Run on a small stack, as a tokio worker's: no recursion grows with the message.
    let handle = std::thread::Builder::new()
        .stack_size(512 * 1024)
        .spawn(move || {
            let _ = parse(&"in a,".repeat(2_800), now);
            let _ = parse(
                &format!(
                    "create project X with tasks {}",
                    "t after all, ".repeat(1_900)
                ),
                now,
            );
        })
        .unwrap();
    handle.join().expect("no stack overflow, no panic");
    for text in [
        "for ééé tell it blue \u{a0} please",
        "Website needs tasks: ééé\u{3000} thanks",
    ] {
        let _ = parse(text, now);
    }
    assert_eq!(
        parse("for #abc1 tell it use blue \u{a0} please", now),
        Intent::Unblock {
            task: TaskRef::Code("abc1".into()),
            note: Some("use blue".into()),
        }
    );
    // A request mentioning "while you work … order" is a request, not a busy setting.
    assert_eq!(
        multitask_setting("add task review the order form while you work on Website"),
        None
    );
    assert_eq!(
        multitask_setting("Busy week: create project Launch with tasks write copy, order banners"),
        None
    );
}
