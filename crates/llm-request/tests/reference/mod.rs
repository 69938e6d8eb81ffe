//! The reference prompt-token count of a corpus request, computed with a
//! real tokenizer and independently of the crate's own parsing: the texts
//! are pulled out of a `serde_json::Value` per API shape (told by the
//! fixture's file-name prefix), and counted with OpenAI's chat formula:
//!
//! * each text piece (message content, content part, tool-call name and
//!   arguments, tool result) is tokenized on its own;
//! * each message (a top-level system prompt counting as one) adds 3
//!   tokens of framing plus its role's tokens; a `name` adds 1;
//! * tool definitions count as their compact JSON;
//! * 3 tokens prime the reply;
//! * legacy completions count the prompt alone.

pub mod fit;

use serde_json::Value;
use tiktoken_rs::CoreBPE;

/// The texts of one request, as the reference counts them.
#[derive(Debug, Default)]
pub struct Pieces {
    /// Texts tokenized one by one.
    pub texts: Vec<String>,
    /// Role names of the messages (one per message).
    pub roles: Vec<String>,
    /// `name` members of messages.
    pub names: usize,
    /// Whether chat framing applies (everything but legacy completions).
    pub chat: bool,
}

impl Pieces {
    fn message(&mut self, role: &str) {
        self.roles.push(role.to_owned());
    }

    fn text(&mut self, v: &Value) {
        if let Some(s) = v.as_str() {
            self.texts.push(s.to_owned());
        }
    }

    fn json(&mut self, v: &Value) {
        if !v.is_null() {
            self.texts.push(serde_json::to_string(v).unwrap());
        }
    }

    /// Text of a content value: a string, or an array of parts/blocks.
    fn content(&mut self, v: &Value) {
        match v {
            Value::String(_) => self.text(v),
            Value::Array(parts) => parts.iter().for_each(|p| self.part(p)),
            _ => {}
        }
    }

    /// A content part or block of any of the shapes.
    fn part(&mut self, p: &Value) {
        match p["type"].as_str() {
            Some("tool_use") => {
                self.text(&p["name"]);
                self.json(&p["input"]);
            }
            Some("tool_result") => self.content(&p["content"]),
            _ => self.text(&p["text"]),
        }
    }

    /// An OpenAI-style message.
    fn openai_message(&mut self, msg: &Value) {
        self.message(msg["role"].as_str().unwrap_or("user"));
        self.content(&msg["content"]);
        if msg.get("name").is_some() {
            self.names += 1;
            self.text(&msg["name"]);
        }
        for call in msg["tool_calls"].as_array().into_iter().flatten() {
            self.text(&call["function"]["name"]);
            self.text(&call["function"]["arguments"]);
        }
    }

    /// Reads a fixture according to its file-name prefix.
    pub fn of(name: &str, body: &Value) -> Pieces {
        let mut p = Pieces {
            chat: true,
            ..Pieces::default()
        };
        let prefix = name.split('_').next().unwrap();
        match prefix {
            "openai" => {
                for msg in body["messages"].as_array().unwrap() {
                    p.openai_message(msg);
                }
            }
            "anthropic" => {
                if !body["system"].is_null() {
                    p.message("system");
                    p.content(&body["system"]);
                }
                for msg in body["messages"].as_array().unwrap() {
                    p.message(msg["role"].as_str().unwrap());
                    p.content(&msg["content"]);
                }
            }
            "gemini" => {
                if let Some(sys) = body.get("systemInstruction") {
                    p.message("system");
                    p.content(&sys["parts"]);
                }
                for c in body["contents"].as_array().unwrap() {
                    p.message(c["role"].as_str().unwrap_or("user"));
                    p.content(&c["parts"]);
                }
            }
            "responses" => {
                if !body["instructions"].is_null() {
                    p.message("system");
                    p.text(&body["instructions"]);
                }
                match &body["input"] {
                    Value::String(_) => {
                        p.message("user");
                        p.text(&body["input"]);
                    }
                    Value::Array(items) => {
                        for item in items {
                            p.message(item["role"].as_str().unwrap_or("tool"));
                            p.content(&item["content"]);
                            p.text(&item["name"]);
                            p.text(&item["arguments"]);
                            p.text(&item["output"]);
                        }
                    }
                    _ => panic!("{name}: input"),
                }
            }
            "dashscope" => {
                let input = &body["input"];
                if let Some(msgs) = input["messages"].as_array() {
                    msgs.iter().for_each(|m| p.openai_message(m));
                } else {
                    p.message("user");
                    p.text(&input["prompt"]);
                }
            }
            "completions" => {
                p.chat = false;
                p.text(&body["prompt"]);
            }
            other => panic!("{name}: unknown prefix {other}"),
        }
        p.json(&body["tools"]);
        p
    }

    /// The reference token count with a tokenizer.
    pub fn count(&self, bpe: &CoreBPE) -> usize {
        let tok = |s: &str| bpe.encode_ordinary(s).len();
        let text: usize = self.texts.iter().map(|t| tok(t)).sum();
        if !self.chat {
            return text;
        }
        let framing: usize = self.roles.iter().map(|r| 3 + tok(r)).sum();
        text + framing + self.names + 3
    }
}
