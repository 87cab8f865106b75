//! Personas on Telegram: people create agents from the chat (`/create`, a wizard of a
//! few steps), list and share them (`/mine`, `/share`: a deep link
//! `https://t.me/<bot>?start=<slug>`), and talk to them (`/start <slug>` from the link,
//! or `/talk <slug>`; `/exit` comes back to the Chief of Staff).
//!
//! Anyone may, in a private chat: these do not need the chat to be on the operators'
//! allowlist (the Chief of Staff still does). The person is `telegram:<user id>` on the
//! platform (`X-On-Behalf-Of`), so their personas and their conversations are theirs
//! whatever chat they write from. A chat's state — the persona it talks to, a wizard
//! under way — is kept in its thread's metadata (`telegram_persona`,
//! `telegram_wizard`), so a restart of the bot loses neither.
//!
//! A message to a persona is handed to the platform (`POST /personas/{id}/chat`) without
//! waiting; the persona's answer comes through the relay like the Chief's, from the
//! persona conversation's thread (whose person is `telegram:<user id>`: in a private
//! chat, the chat itself).

use agentops_sdk::types::{
    ErrorCode, PersonaChatIn, PersonaIn, PersonaOut, PersonaPatch, Visibility,
};
use serde_json::{Value, json};
use teloxide::types::{ChatId, InlineKeyboardButton, Message, User};

use teloxide::requests::Requester;

use crate::commands::Command;
use crate::{BotError, TelegramBot, messages};

/// Thread metadata: the persona a chat talks to.
pub const PERSONA_KEY: &str = "telegram_persona";
/// Thread metadata: the `/create` wizard under way in a chat.
pub const WIZARD_KEY: &str = "telegram_wizard";

/// What the platform said in refusing (its message, for a person to read).
pub(crate) fn what_it_says(err: &agentops_sdk::Error) -> String {
    match err {
        agentops_sdk::Error::Api { message, .. } => message.clone(),
        other => other.to_string(),
    }
}

/// Who a Telegram user is on the platform.
pub fn person(user: &User) -> String {
    format!("telegram:{}", user.id.0)
}

impl TelegramBot {
    /// Handles what belongs to personas in a private chat: their commands, a wizard's
    /// next answer, a message to the persona the chat talks to. `false` if the message
    /// is not theirs (the Chief of Staff's, or the allowlist's).
    pub(crate) async fn persona_flow(
        &self,
        message: &Message,
        text: &str,
        command: Option<&Command>,
    ) -> Result<bool, BotError> {
        let Some(user) = message.from.as_ref() else {
            return Ok(false);
        };
        if !message.chat.is_private() {
            return Ok(false);
        }
        let chat = message.chat.id;
        if command.is_some() && self.too_fast(chat, user).await? {
            return Ok(true);
        }
        match command {
            Some(Command::Start(slug) | Command::Talk(slug)) if !slug.trim().is_empty() => {
                self.enter(chat, user, slug.trim()).await.map(|()| true)
            }
            Some(Command::Talk(_)) => self
                .tell(
                    chat,
                    "Say which: /talk NAME (the persona's link name, as /mine shows).",
                    &[],
                )
                .await
                .map(|()| true),
            Some(Command::Exit | Command::Manage) => {
                let left = self.current_persona(chat).await?;
                self.set_metadata(self.thread_of(chat).await?, json!({ PERSONA_KEY: null }))
                    .await?;
                let text = match left {
                    Some(p) => format!(
                        "You left {}. You are back with the Chief of Staff (if this chat may use it).",
                        p["name"].as_str().unwrap_or("the persona")
                    ),
                    None => "You were not talking to a persona.".to_owned(),
                };
                self.tell(chat, &text, &[]).await.map(|()| true)
            }
            Some(Command::Create) => self.start_wizard(chat).await.map(|()| true),
            Some(Command::Cancel) => {
                let had = self.wizard(chat).await?;
                self.set_metadata(self.thread_of(chat).await?, json!({ WIZARD_KEY: null }))
                    .await?;
                let text = match had {
                    Some(wizard) if wizard["step"] == "edit" => "Cancelled: it stays as it was.",
                    Some(_) => "Cancelled: nothing was created.",
                    None => "Nothing to cancel.",
                };
                self.tell(chat, text, &[]).await.map(|()| true)
            }
            Some(Command::Mine | Command::List) => self.mine(chat, user).await.map(|()| true),
            Some(Command::Share(slug)) => self.share(chat, user, slug.trim()).await.map(|()| true),
            Some(Command::Delete(slug)) => self
                .ask_delete(chat, user, slug.trim())
                .await
                .map(|()| true),
            Some(Command::Edit(slug)) => {
                self.ask_edit(chat, user, slug.trim()).await.map(|()| true)
            }
            Some(_) => Ok(false),
            None => {
                // One look at the chat's state: a wizard under way, or a persona.
                let (wizard, persona) = self.chat_state(chat).await?;
                if (wizard.is_some() || persona.is_some()) && self.too_fast(chat, user).await? {
                    return Ok(true);
                }
                if let Some(wizard) = wizard {
                    if wizard["step"] == "edit" {
                        return self
                            .edit_step(chat, user, wizard, text)
                            .await
                            .map(|()| true);
                    }
                    return self.wizard_step(chat, wizard, text).await.map(|()| true);
                }
                match persona {
                    Some(persona) => self
                        .say_to_persona(chat, user, &persona, text)
                        .await
                        .map(|()| true),
                    None => Ok(false),
                }
            }
        }
    }

    /// The models people may choose: the platform's (`GET /models`, the operator's
    /// `AGENTOPS_PERSONA_MODELS`), else this bot's `TELEGRAM_PERSONA_MODELS`.
    async fn persona_models(&self) -> Result<Vec<String>, BotError> {
        let platform = self.inner.platform.personas().models().await?.models;
        Ok(if platform.is_empty() {
            self.inner.config.persona_models.clone()
        } else {
            platform
        })
    }

    /// A button per model people may choose, its data made by `data` from its index.
    async fn model_buttons(
        &self,
        data: impl Fn(usize) -> String,
    ) -> Result<Vec<InlineKeyboardButton>, BotError> {
        Ok(self
            .persona_models()
            .await?
            .into_iter()
            .enumerate()
            .map(|(i, model)| InlineKeyboardButton::callback(model, data(i)))
            .collect())
    }

    /// Whether `user` writes faster than their rate (told once while it lasts).
    async fn too_fast(&self, chat: ChatId, user: &User) -> Result<bool, BotError> {
        match self.pace(user.id.0) {
            crate::Pace::Fine => Ok(false),
            crate::Pace::TooFast(wait) => {
                self.tell(
                    chat,
                    &format!(
                        "You are writing faster than I can take it: please wait {} s and send that again.",
                        wait.as_secs().max(1)
                    ),
                    &[],
                )
                .await?;
                Ok(true)
            }
            crate::Pace::Told => Ok(true),
        }
    }

    /// A plain message straight to a private chat (not kept in its thread: the chat
    /// may not be one of the operators').
    pub(crate) async fn tell(
        &self,
        chat: ChatId,
        text: &str,
        buttons: &[InlineKeyboardButton],
    ) -> Result<(), BotError> {
        messages::send_text(&self.inner.bot, chat, text, buttons).await?;
        Ok(())
    }

    /// The chat's wizard and persona, read at once.
    async fn chat_state(&self, chat: ChatId) -> Result<(Option<Value>, Option<Value>), BotError> {
        let found = self
            .inner
            .platform
            .threads()
            .list()
            .channel(crate::CHANNEL)
            .external_id(chat.0.to_string())
            .limit(1)
            .send()
            .await?
            .items
            .into_iter()
            .next();
        // Nothing (and no thread opened) for a chat that has none: a stranger writing
        // leaves nothing on the platform.
        let get = |key: &str| {
            found
                .as_ref()
                .and_then(|t| t.metadata.get(key))
                .filter(|v| !v.is_null())
                .cloned()
        };
        Ok((get(WIZARD_KEY), get(PERSONA_KEY)))
    }

    async fn current_persona(&self, chat: ChatId) -> Result<Option<Value>, BotError> {
        Ok(self.chat_state(chat).await?.1)
    }

    async fn wizard(&self, chat: ChatId) -> Result<Option<Value>, BotError> {
        Ok(self.chat_state(chat).await?.0)
    }

    fn personas_for(&self, user: &User) -> agentops_sdk::resources::Personas<'_> {
        self.inner.platform.personas().on_behalf_of(person(user))
    }

    /// The deep link of a persona.
    async fn link(&self, slug: &str) -> Result<String, BotError> {
        let me = self.me().await?;
        Ok(format!("https://t.me/{}?start={slug}", me.username()))
    }

    /// Puts the chat into conversation with the persona `slug`.
    async fn enter(&self, chat: ChatId, user: &User, slug: &str) -> Result<(), BotError> {
        let found = match self.personas_for(user).get(slug).await {
            Ok(found) => found,
            Err(err) if err.is_not_found() => {
                return self
                    .tell(
                        chat,
                        &format!(
                            "I know no persona called \"{slug}\": check the link, or see /mine."
                        ),
                        &[],
                    )
                    .await;
            }
            Err(err) => return Err(err.into()),
        };
        self.set_metadata(
            self.thread_of(chat).await?,
            json!({ PERSONA_KEY: {"id": found.id, "slug": found.slug, "name": found.name}, WIZARD_KEY: null }),
        )
        .await?;
        let mut text = format!("🎭 You are talking to {}", found.name);
        if !found.description.is_empty() {
            text.push_str(&format!(" — {}", found.description));
        }
        text.push_str(". Your conversation is yours alone. /exit to leave.");
        if let Some(greeting) = &found.greeting {
            text.push_str(&format!("\n\n{}: {greeting}", found.name));
        }
        self.tell(chat, &text, &[]).await
    }

    async fn say_to_persona(
        &self,
        chat: ChatId,
        user: &User,
        persona: &Value,
        text: &str,
    ) -> Result<(), BotError> {
        let id = persona["id"].as_str().unwrap_or_default();
        let name = persona["name"].as_str().unwrap_or("The persona");
        let input = PersonaChatIn {
            text: text.to_owned(),
            ..PersonaChatIn::default()
        };
        // The answer comes through the relay.
        match self.personas_for(user).chat(id, &input, 0).await {
            Ok(_) => {
                let _ = self
                    .inner
                    .bot
                    .send_chat_action(chat, teloxide::types::ChatAction::Typing)
                    .await;
                Ok(())
            }
            Err(err) if err.error_code() == Some(ErrorCode::RateLimited) => {
                let said = what_it_says(&err);
                self.tell(chat, &format!("⏳ {said}"), &[]).await
            }
            Err(err)
                if err.is_not_found() || err.error_code() == Some(ErrorCode::PersonaDeleted) =>
            {
                self.set_metadata(self.thread_of(chat).await?, json!({ PERSONA_KEY: null }))
                    .await?;
                self.tell(
                    chat,
                    &format!("{name} is no longer available (its owner deleted it). You are back with the Chief of Staff."),
                    &[],
                )
                .await
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn start_wizard(&self, chat: ChatId) -> Result<(), BotError> {
        self.set_metadata(
            self.thread_of(chat).await?,
            json!({ WIZARD_KEY: {"step": "name"}, PERSONA_KEY: null }),
        )
        .await?;
        self.tell(
            chat,
            "🎭 Let's make a persona. What is its name? (/cancel stops at any step)",
            &[],
        )
        .await
    }

    async fn wizard_step(
        &self,
        chat: ChatId,
        mut wizard: Value,
        text: &str,
    ) -> Result<(), BotError> {
        let text = text.trim();
        let thread = self.thread_of(chat).await?;
        match wizard["step"].as_str().unwrap_or_default() {
            "name" => {
                if text.is_empty() || text.chars().count() > 100 {
                    return self
                        .tell(chat, "A name of 1 to 100 characters, please.", &[])
                        .await;
                }
                wizard = json!({"step": "prompt", "name": text});
                self.set_metadata(thread, json!({ WIZARD_KEY: wizard }))
                    .await?;
                self.tell(
                    chat,
                    &format!("What should {text} be like? Describe its character, what it knows and how it talks (this becomes its instructions)."),
                    &[],
                )
                .await
            }
            "prompt" => {
                if text.is_empty() || text.chars().count() > 8_000 {
                    return self
                        .tell(chat, "A description of 1 to 8,000 characters, please.", &[])
                        .await;
                }
                wizard["step"] = json!("model");
                wizard["prompt"] = json!(text);
                self.set_metadata(thread, json!({ WIZARD_KEY: wizard }))
                    .await?;
                let buttons = self.model_buttons(|i| format!("wizard:model:{i}")).await?;
                self.tell(chat, "Which model should it think with?", &buttons)
                    .await
            }
            "model" => {
                self.tell(
                    chat,
                    "Choose a model with a button above (or /cancel).",
                    &[],
                )
                .await
            }
            "confirm" => {
                self.tell(chat, "Press ✅ Create or ✖ Cancel above.", &[])
                    .await
            }
            _ => {
                self.set_metadata(thread, json!({ WIZARD_KEY: null }))
                    .await?;
                self.tell(chat, "That wizard was lost; start again with /create.", &[])
                    .await
            }
        }
    }

    /// A press of a wizard's or a deletion's button; `false` if it is not one.
    pub(crate) async fn persona_button(
        &self,
        chat: ChatId,
        user: &User,
        data: &str,
    ) -> Result<Option<String>, BotError> {
        if let Some(choice) = data.strip_prefix("wizard:") {
            let Some(mut wizard) = self.wizard(chat).await? else {
                return Ok(Some(
                    "That wizard is over: start again with /create.".into(),
                ));
            };
            let thread = self.thread_of(chat).await?;
            if let Some(index) = choice.strip_prefix("model:") {
                let models = self.persona_models().await?;
                let Some(model) = index
                    .parse::<usize>()
                    .ok()
                    .and_then(|i| models.get(i))
                    .filter(|_| wizard["step"] == "model")
                else {
                    return Ok(Some("That choice is not open now.".into()));
                };
                wizard["step"] = json!("confirm");
                wizard["model"] = json!(model);
                self.set_metadata(thread, json!({ WIZARD_KEY: wizard }))
                    .await?;
                let name = wizard["name"].as_str().unwrap_or_default();
                let preview = format!(
                    "Here is {name}:\n\n{}\n\nModel: {model}\n\nIts first message to people: \"{}\"",
                    wizard["prompt"].as_str().unwrap_or_default(),
                    greeting(name)
                );
                self.tell(
                    chat,
                    &preview,
                    &[
                        InlineKeyboardButton::callback("✅ Create", "wizard:create"),
                        InlineKeyboardButton::callback("✖ Cancel", "wizard:cancel"),
                    ],
                )
                .await?;
                return Ok(Some(String::new()));
            }
            if choice == "cancel" {
                self.set_metadata(thread, json!({ WIZARD_KEY: null }))
                    .await?;
                self.tell(chat, "Cancelled: nothing was created.", &[])
                    .await?;
                return Ok(Some(String::new()));
            }
            if choice == "create" && wizard["step"] == "confirm" {
                let name = wizard["name"].as_str().unwrap_or_default().to_owned();
                let input = PersonaIn {
                    visibility: Some(Visibility::Link),
                    greeting: Some(greeting(&name)),
                    ..PersonaIn::new(
                        name.clone(),
                        wizard["prompt"].as_str().unwrap_or_default(),
                        wizard["model"].as_str().unwrap_or_default(),
                    )
                };
                let made = self.personas_for(user).create(&input).await?;
                self.set_metadata(thread, json!({ WIZARD_KEY: null }))
                    .await?;
                let link = self.link(&made.slug).await?;
                self.tell(
                    chat,
                    &format!(
                        "✅ {} is ready. Share it: {link}\nAnyone who opens it talks to {} in a conversation of their own. Try it now: /talk {}",
                        made.name, made.name, made.slug
                    ),
                    &[],
                )
                .await?;
                return Ok(Some(String::new()));
            }
            return Ok(Some("That choice is not open now.".into()));
        }
        if let Some(rest) = data.strip_prefix("pedit:") {
            return self.edit_button(chat, user, rest).await.map(Some);
        }
        if let Some(rest) = data.strip_prefix("pdel:") {
            let (verb, id) = rest.split_once(':').unwrap_or(("", rest));
            if verb == "keep" {
                self.tell(chat, "Kept.", &[]).await?;
                return Ok(Some(String::new()));
            }
            return match self.personas_for(user).delete(id, false).await {
                Ok(()) => {
                    self.tell(
                        chat,
                        "🗑 Deleted: it takes no new messages. Its conversations are kept for you.",
                        &[],
                    )
                    .await?;
                    Ok(Some(String::new()))
                }
                Err(err) if err.error_code() == Some(ErrorCode::Forbidden) => {
                    Ok(Some("Only its owner can delete it.".into()))
                }
                Err(err) if err.is_not_found() => Ok(Some("It is already gone.".into())),
                Err(err) => Err(err.into()),
            };
        }
        Ok(None)
    }

    async fn mine(&self, chat: ChatId, user: &User) -> Result<(), BotError> {
        let page = self
            .personas_for(user)
            .list()
            .owner("me")
            .limit(50)
            .send()
            .await?;
        let mine: Vec<&PersonaOut> = page
            .items
            .iter()
            .filter(|p| p.status == agentops_sdk::types::PersonaStatus::Active)
            .collect();
        if mine.is_empty() {
            return self
                .tell(chat, "You have no personas yet: /create makes one.", &[])
                .await;
        }
        let mut text = String::from("🎭 Your personas:\n");
        for p in mine {
            let today = p.today.unwrap_or_default();
            text.push_str(&format!(
                "\n{} ({}, version {}, {}) — {}\n   today: {} message{} from {} {}{}",
                p.name,
                p.visibility,
                p.version,
                p.daily_limit
                    .map_or("no daily limit".to_owned(), |n| format!(
                        "{n} messages a day each"
                    )),
                self.link(&p.slug).await?,
                today.messages,
                if today.messages == 1 { "" } else { "s" },
                today.people,
                if today.people == 1 {
                    "person"
                } else {
                    "people"
                },
                p.telegram_bot_id
                    .map_or(String::new(), |id| format!("; its own bot: id {id}")),
            ));
        }
        text.push_str(
            "\n\n/talk NAME to try one, /share NAME for its link, /delete NAME to remove it.",
        );
        self.tell(chat, &text, &[]).await
    }

    async fn share(&self, chat: ChatId, user: &User, slug: &str) -> Result<(), BotError> {
        if slug.is_empty() {
            return self
                .tell(chat, "Say which: /share NAME (see /mine).", &[])
                .await;
        }
        let found = match self.personas_for(user).get(slug).await {
            Ok(found) => found,
            Err(err) if err.is_not_found() => {
                return self
                    .tell(
                        chat,
                        &format!("You have no persona called \"{slug}\" (see /mine)."),
                        &[],
                    )
                    .await;
            }
            Err(err) => return Err(err.into()),
        };
        // A private persona becomes reachable by its link when its owner shares it.
        if found.visibility == Visibility::Private && found.owner == person(user) {
            self.personas_for(user)
                .update(
                    &found.slug,
                    &PersonaPatch {
                        visibility: Some(Visibility::Link),
                        ..PersonaPatch::default()
                    },
                )
                .await?;
        }
        let link = self.link(&found.slug).await?;
        self.tell(chat, &format!("Share {}: {link}", found.name), &[])
            .await
    }

    /// One of `user`'s own personas by `slug`, or `None` once they were told why not.
    async fn own(
        &self,
        chat: ChatId,
        user: &User,
        slug: &str,
        verb: &str,
    ) -> Result<Option<PersonaOut>, BotError> {
        if slug.is_empty() {
            self.tell(chat, &format!("Say which: /{verb} NAME (see /mine)."), &[])
                .await?;
            return Ok(None);
        }
        match self.personas_for(user).get(slug).await {
            Ok(found) if found.owner == person(user) => Ok(Some(found)),
            Ok(_) => {
                self.tell(chat, &format!("Only its owner can {verb} it."), &[])
                    .await?;
                Ok(None)
            }
            Err(err) if err.is_not_found() => {
                self.tell(
                    chat,
                    &format!("You have no persona called \"{slug}\" (see /mine)."),
                    &[],
                )
                .await?;
                Ok(None)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// `/edit NAME`: what to change, as buttons.
    async fn ask_edit(&self, chat: ChatId, user: &User, slug: &str) -> Result<(), BotError> {
        let Some(found) = self.own(chat, user, slug, "edit").await? else {
            return Ok(());
        };
        let id = found.id;
        let bot = match found.telegram_bot_id {
            Some(bot) => format!("its own bot (id {bot})"),
            None => "no bot of its own".to_owned(),
        };
        self.tell(
            chat,
            &format!(
                "What should change in {} (version {}, model {}, {bot})?",
                found.name, found.version, found.model
            ),
            &[
                InlineKeyboardButton::callback("✏️ Instructions", format!("pedit:prompt:{id}")),
                InlineKeyboardButton::callback("👋 Greeting", format!("pedit:greeting:{id}")),
                InlineKeyboardButton::callback("🧠 Model", format!("pedit:model:{id}")),
                InlineKeyboardButton::callback("🤖 Bot token", format!("pedit:bot:{id}")),
            ],
        )
        .await
    }

    /// A press under `/edit`'s question (`field:id`), or of a model (`setmodel:i:id`).
    async fn edit_button(&self, chat: ChatId, user: &User, rest: &str) -> Result<String, BotError> {
        let mut parts = rest.splitn(3, ':');
        let (field, first, second) = (parts.next(), parts.next(), parts.next());
        if let (Some("setmodel"), Some(index), Some(id)) = (field, first, second) {
            let models = self.persona_models().await?;
            let Some(model) = index.parse::<usize>().ok().and_then(|i| models.get(i)) else {
                return Ok("That choice is not open now.".into());
            };
            let patch = PersonaPatch {
                model: Some(model.clone()),
                ..PersonaPatch::default()
            };
            return self.apply_edit(chat, user, id, &patch).await;
        }
        let (Some(field), Some(id)) = (field, first) else {
            return Ok("That choice is not open now.".into());
        };
        let found = match self.personas_for(user).get(id).await {
            Ok(found) if found.owner == person(user) => found,
            Ok(_) => return Ok("Only its owner can edit it.".into()),
            Err(err) if err.is_not_found() => return Ok("It is gone.".into()),
            Err(err) => return Err(err.into()),
        };
        let ask = match field {
            "prompt" => format!(
                "Send {}'s new instructions: its character, what it knows, how it talks.",
                found.name
            ),
            "greeting" => format!(
                "Send {}'s new first message to people (\"-\" for none).",
                found.name
            ),
            "bot" => format!(
                "Send the token @BotFather gave you for {}'s own bot (\"-\" to remove it). \
                 It is stored encrypted; delete your message with it afterwards.",
                found.name
            ),
            "model" => {
                let buttons = self
                    .model_buttons(|i| format!("pedit:setmodel:{i}:{}", found.id))
                    .await?;
                self.tell(
                    chat,
                    &format!("Which model should {} think with?", found.name),
                    &buttons,
                )
                .await?;
                return Ok(String::new());
            }
            _ => return Ok("That choice is not open now.".into()),
        };
        self.set_metadata(
            self.thread_of(chat).await?,
            json!({ WIZARD_KEY: {"step": "edit", "field": field, "persona": found.id,
                                 "name": found.name}, PERSONA_KEY: null }),
        )
        .await?;
        self.tell(chat, &format!("{ask} (/cancel keeps it as it is)"), &[])
            .await?;
        Ok(String::new())
    }

    /// The answer to `/edit`'s request for a new value.
    async fn edit_step(
        &self,
        chat: ChatId,
        user: &User,
        wizard: Value,
        text: &str,
    ) -> Result<(), BotError> {
        let text = text.trim();
        let none = text == "-";
        let mut patch = PersonaPatch::default();
        match wizard["field"].as_str().unwrap_or_default() {
            "prompt" if !text.is_empty() && text.chars().count() <= 8_000 => {
                patch.system_prompt = Some(text.to_owned());
            }
            "prompt" => {
                return self
                    .tell(chat, "Instructions of 1 to 8,000 characters, please.", &[])
                    .await;
            }
            "greeting" if text.chars().count() <= 1_000 => {
                patch.greeting = Some(if none { String::new() } else { text.to_owned() });
            }
            "greeting" => {
                return self
                    .tell(chat, "A greeting of at most 1,000 characters, please.", &[])
                    .await;
            }
            "bot" => {
                patch.telegram_bot_token = Some(if none { String::new() } else { text.to_owned() });
            }
            _ => {
                self.set_metadata(self.thread_of(chat).await?, json!({ WIZARD_KEY: null }))
                    .await?;
                return self
                    .tell(chat, "That edit was lost; start again with /edit.", &[])
                    .await;
            }
        }
        let id = wizard["persona"].as_str().unwrap_or_default().to_owned();
        let said = self.apply_edit(chat, user, &id, &patch).await?;
        if !said.is_empty() {
            self.tell(chat, &said, &[]).await?;
        }
        Ok(())
    }

    /// Changes persona `id` by `patch` for its owner `user` and says how it went (an
    /// empty text when the chat was told; else what to show).
    async fn apply_edit(
        &self,
        chat: ChatId,
        user: &User,
        id: &str,
        patch: &PersonaPatch,
    ) -> Result<String, BotError> {
        match self.personas_for(user).update(id, patch).await {
            Ok(changed) => {
                self.set_metadata(self.thread_of(chat).await?, json!({ WIZARD_KEY: null }))
                    .await?;
                let what = if patch.telegram_bot_token.as_deref() == Some("") {
                    format!("✅ {} has no bot of its own any more.", changed.name)
                } else if patch.telegram_bot_token.is_some() {
                    format!(
                        "✅ {} is now also its own bot (id {}): it answers there within a minute.",
                        changed.name,
                        changed.telegram_bot_id.unwrap_or_default()
                    )
                } else {
                    format!(
                        "✅ {} changed: version {}. Its next answers use it.",
                        changed.name, changed.version
                    )
                };
                self.tell(chat, &what, &[]).await?;
                Ok(String::new())
            }
            Err(err) if err.error_code() == Some(ErrorCode::ValidationFailed) => {
                Ok(format!("That does not fit: {}", what_it_says(&err)))
            }
            Err(err) if err.error_code() == Some(ErrorCode::AlreadyExists) => {
                Ok("That bot already is another persona.".into())
            }
            Err(err) if err.error_code() == Some(ErrorCode::SecretsUnavailable) => {
                Ok("This platform cannot store secrets (no master key): ask its operator.".into())
            }
            Err(err) if err.error_code() == Some(ErrorCode::Forbidden) => {
                Ok("Only its owner can edit it.".into())
            }
            Err(err)
                if err.is_not_found() || err.error_code() == Some(ErrorCode::PersonaDeleted) =>
            {
                self.set_metadata(self.thread_of(chat).await?, json!({ WIZARD_KEY: null }))
                    .await?;
                Ok("It is gone.".into())
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn ask_delete(&self, chat: ChatId, user: &User, slug: &str) -> Result<(), BotError> {
        if slug.is_empty() {
            return self
                .tell(chat, "Say which: /delete NAME (see /mine).", &[])
                .await;
        }
        let found = match self.personas_for(user).get(slug).await {
            Ok(found) if found.owner == person(user) => found,
            Ok(_) => return self.tell(chat, "Only its owner can delete it.", &[]).await,
            Err(err) if err.is_not_found() => {
                return self
                    .tell(
                        chat,
                        &format!("You have no persona called \"{slug}\" (see /mine)."),
                        &[],
                    )
                    .await;
            }
            Err(err) => return Err(err.into()),
        };
        self.tell(
            chat,
            &format!(
                "Delete {}? People talking to it will be told it is gone.",
                found.name
            ),
            &[
                InlineKeyboardButton::callback("🗑 Delete", format!("pdel:yes:{}", found.id)),
                InlineKeyboardButton::callback("Keep it", format!("pdel:keep:{}", found.id)),
            ],
        )
        .await
    }
}

/// The first message of a persona made with the wizard.
fn greeting(name: &str) -> String {
    format!("Hello! I am {name}. What would you like to talk about?")
}
