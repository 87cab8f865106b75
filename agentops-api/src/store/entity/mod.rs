//! sea-orm entities, one per table. They mirror `migration/` exactly and hold no logic.

pub mod agent;
pub mod api_key;
pub mod approval;
pub mod artifact;
pub mod budget;
pub mod budget_period;
pub mod budget_reservation;
pub mod budget_reservation_leg;
pub mod deployment;
pub mod event;
pub mod event_cursor;
pub mod pairing;
pub mod persona;
pub mod persona_version;
pub mod preview;
pub mod project;
pub mod project_note;
pub mod schedule;
pub mod task;
pub mod task_dependency;
pub mod task_label;
pub mod thread;
pub mod thread_message;
pub mod tool;
pub mod usage_record;
