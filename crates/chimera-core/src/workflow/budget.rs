//! The room a turn of a conversation must leave for the turns that follow it: each later turn
//! of the same conversation adds its user message (template text, inserted tool result or
//! previous answer, primer), its tool messages and its answer (num_predict) to the history, and
//! its request must still fit num_ctx. A turn's `{data}` budget is what is left after this
//! reserve ([`conversation_reserve`]), so the conversation never outgrows the context and the
//! server can reuse its cached prefix. Pure and estimated with [`crate::prompt::estimate_tokens`].

use super::{Conversation, SeedPrompt, Step, StepPrompt, ToolMode, tools};
use crate::prompt::estimate_tokens;

/// Tokens a chat message costs beyond its text (role markers), as the session estimates history.
pub const MESSAGE_TOKENS: usize = 4;
/// A fence around inserted text (` ```text ` and ` ``` ` lines).
const FENCE_TOKENS: usize = 6;

/// What one turn adds to a conversation, in estimated tokens.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TurnCost {
    /// The user message without its `{data}` (a later turn fits its data into what is left).
    pub message: usize,
    /// The assistant's tool call and the tool result (0 without a tool).
    pub tool: usize,
    /// What only this turn's request carries (the native tool definitions).
    pub request_only: usize,
    /// The answer: num_predict (it stays in the history for the turns after).
    pub answer: usize,
}

/// Tokens to keep free, beyond the current turn's own prompt and answer, so every later turn's
/// request (history so far + its own message, tool messages, request-only part and answer) fits:
/// the largest such need over the later turns.
pub fn reserve(later: &[TurnCost]) -> usize {
    let (mut grown, mut need) = (0usize, 0usize);
    for t in later {
        grown += t.message + t.tool;
        need = need.max(grown + t.request_only + t.answer);
        grown += t.answer;
    }
    need
}

/// The turns after `(step, turn)` that extend the same conversation, in order: the step's own
/// remaining turns when it continues the conversation, then the following steps for as long as
/// they continue it (a fresh step, or the next turn of a fresh step, starts a new one).
pub fn later_turns(steps: &[Step], step: usize, turn: u32) -> Vec<(usize, u32)> {
    let mut out = Vec::new();
    let Some(cur) = steps.get(step) else { return out };
    if turn < cur.turns {
        if cur.conversation == Conversation::Fresh {
            return out;
        }
        out.extend((turn + 1..=cur.turns).map(|t| (step, t)));
    }
    for (i, s) in steps.iter().enumerate().skip(step + 1) {
        if s.conversation == Conversation::Fresh {
            break;
        }
        out.extend((1..=s.turns).map(|t| (i, t)));
    }
    out
}

/// What the budget needs to know about a workflow beyond its steps.
pub struct Sizes<'a> {
    /// A step's num_predict (its options over the agent's, capped to the context as the run does).
    pub num_predict: &'a dyn Fn(&Step) -> i64,
    /// The tool result of a scripted call (computed from the facts, as the run will).
    pub tool_result: &'a dyn Fn(&tools::ToolCall) -> String,
    /// Estimated tokens of a seed prompt's text without its data and earlier analysis.
    pub seed_text: &'a dyn Fn(SeedPrompt) -> usize,
}

/// The cost of turn `turn` of `steps[i]` (its previous answer is `prev_answer` tokens).
pub fn turn_cost(steps: &[Step], i: usize, turn: u32, prev_answer: usize, sz: &Sizes<'_>) -> TurnCost {
    let s = &steps[i];
    let np = (sz.num_predict)(s);
    let answer = if np > 0 { np as usize } else { 0 };
    let scripted = s.tool.as_ref().map(|t| &t.calls[(turn as usize - 1) % t.calls.len()]);
    let result = scripted.map(|c| estimate_tokens(&(sz.tool_result)(c))).unwrap_or(0);
    let message = match &s.prompt {
        StepPrompt::Seed(SeedPrompt::Analysis) => (sz.seed_text)(SeedPrompt::Analysis),
        StepPrompt::Seed(SeedPrompt::Report) => {
            (sz.seed_text)(SeedPrompt::Report) + prev_answer + FENCE_TOKENS
        }
        StepPrompt::Template { text, primer } => {
            let mut n = estimate_tokens(&text.replace("{data}", "")) + estimate_tokens(primer);
            let inserted = |name: &str| text.matches(&format!("{{{name}}}")).count();
            n += inserted("previous") * (prev_answer + FENCE_TOKENS);
            n += inserted("tool") * (result + FENCE_TOKENS);
            // Another agent's final output: assumed as long as this step's answer.
            n += inserted("handoff") * (answer + FENCE_TOKENS);
            n
        }
    };
    let tool = scripted.map_or(0, |c| {
        let call =
            estimate_tokens(&format!("{} {}", c.name, serde_json::to_string(&c.args).unwrap_or_default()));
        call + MESSAGE_TOKENS + result + MESSAGE_TOKENS
    });
    let native = s.tool.as_ref().is_some_and(|t| t.mode == ToolMode::Native);
    let request_only = if native {
        estimate_tokens(&serde_json::to_string(&tools::definitions()).unwrap_or_default())
    } else {
        0
    };
    TurnCost { message: message + MESSAGE_TOKENS, tool, request_only, answer }
}

/// The tokens turn `turn` of `steps[step]` must leave free for the conversation's later turns
/// (0 when none follows), and how many turns follow.
pub fn conversation_reserve(steps: &[Step], step: usize, turn: u32, sz: &Sizes<'_>) -> (usize, usize) {
    let later = later_turns(steps, step, turn);
    let mut prev = steps.get(step).map_or(0, |s| (sz.num_predict)(s).max(0) as usize);
    let costs: Vec<TurnCost> = later
        .iter()
        .map(|&(i, t)| {
            let c = turn_cost(steps, i, t, prev, sz);
            prev = c.answer;
            c
        })
        .collect();
    (reserve(&costs), costs.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workflow::{builtin, parse_workflow};

    #[test]
    fn reserve_by_hand() {
        let t = |message, tool, request_only, answer| TurnCost { message, tool, request_only, answer };
        assert_eq!(reserve(&[]), 0);
        // Turn 1: 10 + 20 in, answer 8 → needs 38; turn 2: history 38 + 12 + native 100 + 8 = 158.
        assert_eq!(reserve(&[t(10, 20, 0, 8), t(12, 0, 100, 8)]), 158);
        // A big request-only part early does not stay in the history.
        assert_eq!(reserve(&[t(10, 0, 500, 8), t(10, 0, 0, 8)]), 518);
    }

    #[test]
    fn later_turns_follow_the_conversation() {
        let w = |toml: &str| parse_workflow(toml, "t", std::path::Path::new("."), "t").unwrap();
        let tl = builtin("tool-loop").unwrap();
        assert_eq!(later_turns(&tl.steps, 0, 1), [(1, 1), (1, 2), (1, 3)]);
        assert_eq!(later_turns(&tl.steps, 1, 2), [(1, 3)]);
        assert!(later_turns(&tl.steps, 1, 3).is_empty());
        // analyst: two fresh steps, nothing follows either.
        let a = builtin("analyst").unwrap();
        assert!(later_turns(&a.steps, 0, 1).is_empty());
        // analyst-chat: the analysis is continued by the report.
        assert_eq!(later_turns(&builtin("analyst-chat").unwrap().steps, 0, 1), [(1, 1)]);
        // A fresh looping step starts over each turn; a fresh step ends the conversation.
        let f = w(r#"
[[steps]]
name = "a"
user = "x {data}"
turns = 2
[[steps]]
name = "b"
conversation = "continue"
user = "y"
[[steps]]
name = "c"
user = "z"
"#);
        assert!(later_turns(&f.steps, 0, 1).is_empty());
        assert_eq!(later_turns(&f.steps, 0, 2), [(1, 1)]);
        assert!(later_turns(&f.steps, 1, 1).is_empty());
    }

    #[test]
    fn tool_loop_costs_by_hand() {
        let tl = builtin("tool-loop").unwrap();
        let sz = Sizes {
            num_predict: &|_| 8,
            tool_result: &|c| if c.name == "list_metrics" { "a b c d e".into() } else { "1234567890".into() },
            seed_text: &|_| 0,
        };
        let q = "Question {turn}: what do the figures returned by the tool show? Quote them.";
        let message = estimate_tokens(q) + MESSAGE_TOKENS;
        // list_metrics: result "a b c d e" = 5 word tokens × 1.15 → 6; call "list_metrics {}".
        let call = estimate_tokens("list_metrics {}");
        let c1 = turn_cost(&tl.steps, 1, 1, 8, &sz);
        assert_eq!(c1, TurnCost { message, tool: call + 4 + 6 + 4, request_only: 0, answer: 8 });
        // lookup_metric: 10 digits → 12 tokens.
        let call2 = estimate_tokens(r#"lookup_metric {"metric":"tokens_per_s"}"#);
        let c2 = turn_cost(&tl.steps, 1, 2, 8, &sz);
        assert_eq!(c2.tool, call2 + 4 + 12 + 4);
        let (r, n) = conversation_reserve(&tl.steps, 0, 1, &sz);
        let c3 = turn_cost(&tl.steps, 1, 3, 8, &sz);
        assert_eq!(n, 3);
        assert_eq!(r, reserve(&[c1, c2, c3]));
        assert_eq!(r, c1.message + c1.tool + 8 + c2.message + c2.tool + 8 + c3.message + c3.tool + 8);
    }
}
