//! The conversation as the language model sees it: the system prompt, then
//! what the caller said and what the caller actually *heard* from the agent.
//!
//! Agent text enters sentence by sentence, only when Twilio echoes the mark
//! placed after that sentence's audio — so a reply cut short by barge-in
//! leaves exactly the played part here, and the model is never told it said
//! something the caller did not hear. Consecutive messages from the same
//! side are merged so the history keeps alternating.

use std::collections::VecDeque;

use providers::{ChatMessage, ChatRole};

/// Appended to an agent message the caller cut short, so the model knows
/// its last words were interrupted (and does not repeat the whole reply).
const INTERRUPTED: &str = "…";

/// Bounded chat history of one call.
#[derive(Debug, Clone)]
pub(crate) struct History {
    system: ChatMessage,
    messages: VecDeque<ChatMessage>,
    max_messages: usize,
}

impl History {
    /// An empty conversation under `system_prompt`, keeping at most
    /// `max_messages` messages besides it (at least 2: one exchange).
    pub(crate) fn new(system_prompt: &str, max_messages: usize) -> Self {
        let max_messages = max_messages.max(2);
        Self {
            system: ChatMessage::system(system_prompt),
            messages: VecDeque::with_capacity(max_messages.min(64) + 1),
            max_messages,
        }
    }

    /// Records what the caller said.
    pub(crate) fn push_user(&mut self, text: &str) {
        self.push(ChatRole::User, text);
    }

    /// Records one sentence the caller has heard the agent say.
    pub(crate) fn push_heard(&mut self, sentence: &str) {
        self.push(ChatRole::Assistant, sentence);
    }

    /// Takes back `text`, the last thing [`History::push_user`] recorded,
    /// when the turn it began is to be heard again whole (the caller went
    /// on before any answer to it was heard). Anything else is left alone.
    pub(crate) fn unsay_user(&mut self, text: &str) {
        let text = text.trim();
        let Some(last) = self.messages.back_mut() else {
            return;
        };
        if text.is_empty() || last.role != ChatRole::User || !last.content.ends_with(text) {
            return;
        }
        let kept = last.content.len() - text.len();
        last.content.truncate(kept);
        // The space `push` joined it with, if it joined an earlier turn.
        if last.content.ends_with(' ') {
            last.content.pop();
        }
        if last.content.is_empty() {
            self.messages.pop_back();
        }
    }

    /// Notes that the agent's last message was cut short by the caller.
    pub(crate) fn mark_interrupted(&mut self) {
        if let Some(last) = self.messages.back_mut()
            && last.role == ChatRole::Assistant
            && !last.content.ends_with(INTERRUPTED)
        {
            last.content.push_str(INTERRUPTED);
        }
    }

    /// The messages to send to the model: system prompt first.
    pub(crate) fn to_messages(&self) -> Vec<ChatMessage> {
        let mut out = Vec::with_capacity(self.messages.len() + 2);
        out.push(self.system.clone());
        out.extend(self.messages.iter().cloned());
        out
    }

    fn push(&mut self, role: ChatRole, text: &str) {
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        match self.messages.back_mut() {
            Some(last) if last.role == role => {
                last.content.push(' ');
                last.content.push_str(text);
            }
            _ => {
                self.messages.push_back(ChatMessage {
                    role,
                    content: text.to_owned(),
                    tool_calls: Vec::new(),
                    tool_call_id: None,
                });
                while self.messages.len() > self.max_messages {
                    self.messages.pop_front();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(h: &History) -> Vec<ChatRole> {
        h.to_messages().iter().map(|m| m.role).collect()
    }

    #[test]
    fn the_system_prompt_comes_first_and_sides_alternate() {
        let mut h = History::new("be nice", 10);
        h.push_heard("שלום");
        h.push_user("היי");
        h.push_user("אני צריך תור");
        h.push_heard("בטח.");
        h.push_heard("לאיזה יום?");
        let msgs = h.to_messages();
        assert_eq!(
            roles(&h),
            [
                ChatRole::System,
                ChatRole::Assistant,
                ChatRole::User,
                ChatRole::Assistant
            ]
        );
        assert_eq!(msgs[2].content, "היי אני צריך תור");
        assert_eq!(msgs[3].content, "בטח. לאיזה יום?");
    }

    #[test]
    fn old_messages_fall_out_but_the_system_prompt_stays() {
        let mut h = History::new("sys", 4);
        for i in 0..10 {
            h.push_user(&format!("u{i}"));
            h.push_heard(&format!("a{i}"));
        }
        let msgs = h.to_messages();
        assert_eq!(msgs.len(), 5);
        assert_eq!(msgs[0].content, "sys");
        assert_eq!(msgs[1].content, "u8");
        assert_eq!(msgs[4].content, "a9");
    }

    #[test]
    fn an_interruption_is_noted_once_and_only_on_agent_text() {
        let mut h = History::new("sys", 10);
        h.push_user("שאלה");
        h.mark_interrupted();
        assert_eq!(h.to_messages()[1].content, "שאלה");
        h.push_heard("תשובה ארוכה");
        h.mark_interrupted();
        h.mark_interrupted();
        assert_eq!(h.to_messages()[2].content, "תשובה ארוכה…");
    }

    #[test]
    fn taking_back_what_the_caller_said_leaves_what_came_before() {
        let mut h = History::new("sys", 10);
        h.push_user("שלום");
        h.push_heard("שלום, במה אפשר לעזור?");
        h.push_user("אני רוצה");
        h.unsay_user("אני רוצה");
        assert_eq!(
            roles(&h),
            [ChatRole::System, ChatRole::User, ChatRole::Assistant]
        );
        // Joined to an earlier turn that got no answer: only its own part.
        h.push_user("תור");
        h.push_user("למחר");
        h.unsay_user("למחר");
        assert_eq!(h.to_messages()[3].content, "תור");
        // Not the last thing said: nothing changes.
        h.unsay_user("שלום");
        h.push_heard("בטח.");
        h.unsay_user("תור");
        assert_eq!(h.to_messages().len(), 5);
    }

    #[test]
    fn blank_text_is_not_recorded() {
        let mut h = History::new("sys", 10);
        h.push_user("  ");
        h.push_heard("");
        assert_eq!(h.to_messages().len(), 1);
    }
}
