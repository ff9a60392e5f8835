//! Running a workflow's steps: think time (from the previous answer's end to the turn's first
//! request), hand-off, tool result, the prompt (seed prompts or a
//! template with the data within budget), the request (system + prompt when the step is fresh
//! and has no tool, else the chat so far), native tool calls answered or replaced by the
//! scripted call, loops ended by `turns` or `until`; one [`StepRecord`] per turn.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::SeedableRng;
use rand::rngs::StdRng;
use regex::Regex;

use super::{AgentRun, Failure, State, call, off_thread};
use crate::analysis;
use crate::backend::{GenRequest, Message, Role, ToolCallMsg};
use crate::events::Stage;
use crate::export::table::inline;
use crate::inventory::Inventory;
use crate::prompt::{self, PromptPlan, estimate_tokens, fence};
use crate::records::agent::{SessionMetrics, StepRecord, ToolUse};
use crate::workflow::parse::placeholder_re;
use crate::workflow::tools::{self, ToolCall};
use crate::workflow::{Conversation, SeedPrompt, Step, StepPrompt, StepStage, ToolMode, budget};

/// What a template may insert, for one turn.
struct Vars<'a> {
    previous: Option<&'a str>,
    handoff: Option<&'a str>,
    tool: Option<&'a str>,
    turn: u32,
    label: &'a str,
}

/// The template split at `{data}`, its other placeholders filled in one pass (inserted text is
/// never read for placeholders; model and tool texts are fenced: data, never instructions).
fn render(template: &str, v: &Vars<'_>) -> (String, Option<String>) {
    let fenced = |s: Option<&str>| fence(s.unwrap_or(""), "text");
    let fill = |part: &str| {
        placeholder_re()
            .replace_all(part, |c: &regex::Captures<'_>| match &c[1] {
                "previous" => fenced(v.previous),
                "handoff" => fenced(v.handoff),
                "tool" => fenced(v.tool),
                "turn" => v.turn.to_string(),
                "label" => inline(v.label),
                _ => c[0].to_string(),
            })
            .into_owned()
    };
    match template.split_once("{data}") {
        Some((a, b)) => (fill(a), Some(fill(b))),
        None => (fill(template), None),
    }
}

fn stage_of(s: StepStage) -> Stage {
    match s {
        StepStage::Analysis => Stage::Analysis,
        StepStage::Report => Stage::Report,
    }
}

/// The conversation so far (system prompt excluded), as the estimate of its tokens.
fn history_tokens(h: &[Message]) -> usize {
    h.iter().map(|m| estimate_tokens(&m.content) + 4).sum()
}

/// Run every step of the spec's workflow; the outputs go to `st` as they finish.
pub(super) async fn run_steps(
    run: &AgentRun<'_>,
    st: &mut State,
    inv: &Arc<Inventory>,
) -> Result<(), Failure> {
    let wf = &run.spec.workflow;
    let t0 = Instant::now();
    st.session_start = Some(t0);
    let mut rng = StdRng::seed_from_u64(wf.seed);
    let mut history: Vec<Message> = Vec::new();
    let mut previous: Option<String> = None;
    let mut result = Ok(());
    'steps: for (at, step) in wf.steps.iter().enumerate() {
        let until = step.until.as_deref().and_then(|u| Regex::new(u).ok());
        for turn in 1..=step.turns {
            let think_ms = step.think.map_or(0.0, |t| t.sample(&mut rng));
            // Think time runs from the end of the previous answer (or the session's start) to the
            // turn's first request; building the prompt happens within it.
            let since = st.last_call_end.unwrap_or(t0);
            let ready_at = since + Duration::from_secs_f64(think_ms / 1000.0);
            let r = run_turn(run, st, inv, at, turn, (think_ms, ready_at), &mut history, previous.as_deref())
                .await;
            match r {
                Ok(out) => {
                    let stop = until.as_ref().is_some_and(|re| re.is_match(&out));
                    previous = Some(out);
                    if stop {
                        break;
                    }
                }
                Err(f) => {
                    result = Err(f);
                    break 'steps;
                }
            }
        }
    }
    close_session(st);
    result
}

/// The session's figures, from its start to now (also called when the session was cancelled).
pub(super) fn close_session(st: &mut State) {
    if let Some(t0) = st.session_start.take() {
        let wall_ms = t0.elapsed().as_secs_f64() * 1000.0;
        st.out.session = Some(SessionMetrics::new(&st.out.calls, &st.out.steps, wall_ms));
    }
}

/// One turn of a step; returns its output (primer + the model's text).
#[allow(clippy::too_many_arguments)]
async fn run_turn(
    run: &AgentRun<'_>,
    st: &mut State,
    inv: &Arc<Inventory>,
    at: usize,
    turn: u32,
    (think_ms, ready_at): (f64, Instant),
    history: &mut Vec<Message>,
    previous: Option<&str>,
) -> Result<String, Failure> {
    let spec = run.spec;
    let step = &spec.workflow.steps[at];
    let stage = stage_of(step.stage);
    st.current = stage;
    st.out.steps.push(StepRecord {
        step: step.name.clone(),
        turn,
        stage: Some(stage),
        think_ms,
        handoff_from: step.handoff_from.clone(),
        ..Default::default()
    });
    let fail = |message: String| Failure { stage, message: format!("step '{}': {message}", step.name) };
    let handoff = match (&step.handoff_from, &run.handoff) {
        (None, _) => None,
        (Some(from), Some(link)) => Some(
            link.board
                .wait(from, link.round)
                .await
                .map_err(|e| fail(format!("no hand-off from '{from}': {e}")))?,
        ),
        (Some(from), None) => {
            return Err(fail(format!(
                "takes a hand-off from the agent '{from}', which only `chimera multi` gives (an agent labelled '{from}' in the same run)"
            )));
        }
    };
    let scripted = step.tool.as_ref().map(|t| t.calls[(turn as usize - 1) % t.calls.len()].clone());
    let scripted_result = scripted.as_ref().map(|c| tools::run(c, &inv.facts));
    let persona = step.persona.clone().unwrap_or_else(|| spec.persona.clone());
    let options = spec.options.merged(&step.options);
    let ctx = spec.ctx_tokens();
    let default_np = match step.stage {
        StepStage::Analysis => spec.analysis_num_predict,
        StepStage::Report => spec.report_num_predict,
    };
    let np = prompt::effective_num_predict(options.num_predict, default_np, ctx);
    if step.conversation == Conversation::Fresh {
        history.clear();
    }
    // The context this turn's data may not use: the conversation so far, this turn's tool
    // messages (sent after its prompt), and the room the conversation's later turns need.
    let (own, later, later_turns) = {
        let step_np = |s: &Step| {
            let default = match s.stage {
                StepStage::Analysis => spec.analysis_num_predict,
                StepStage::Report => spec.report_num_predict,
            };
            prompt::effective_num_predict(spec.options.merged(&s.options).num_predict, default, ctx)
        };
        let sizes = budget::Sizes {
            num_predict: &step_np,
            tool_result: &|c| tools::run(c, &inv.facts),
            seed_text: &|k| prompt::seed_text_tokens(k == SeedPrompt::Report, &spec.label),
        };
        let own = budget::turn_cost(&spec.workflow.steps, at, turn, 0, &sizes);
        let (later, later_turns) = budget::conversation_reserve(&spec.workflow.steps, at, turn, &sizes);
        (own.tool + own.request_only, later, later_turns)
    };
    let hist_tokens = history_tokens(history) + own + later;
    let (i, label) = (Arc::clone(inv), spec.label.clone());
    let (p, prompt_of) = (previous.map(str::to_string), step.prompt.clone());
    let vars_tool = match step.tool.as_ref().map(|t| t.mode) {
        Some(ToolMode::Scripted) => scripted_result.clone(),
        _ => None,
    };
    let mut plan: PromptPlan = off_thread(move || match prompt_of {
        StepPrompt::Seed(SeedPrompt::Analysis) => {
            prompt::analysis_prompt_taking(&persona, &i, ctx, np, hist_tokens)
        }
        StepPrompt::Seed(SeedPrompt::Report) => {
            let parsed = analysis::parse(p.as_deref().unwrap_or(""));
            prompt::report_prompt_taking(&persona, &label, &i, &parsed, ctx, np, hist_tokens)
        }
        StepPrompt::Template { text, primer } => {
            let vars = Vars {
                previous: p.as_deref(),
                handoff: handoff.as_deref(),
                tool: vars_tool.as_deref(),
                turn,
                label: &label,
            };
            let (before, after) = render(&text, &vars);
            prompt::template_prompt(&persona, &before, after.as_deref(), &primer, &i, ctx, np, hist_tokens)
        }
    })
    .await;
    (plan.reserved_later_tokens, plan.later_turns) = (later, later_turns);
    if later > 0 && !plan.omitted.is_empty() {
        st.out.notes.push(format!(
            "step '{}' turn {turn}: data cut to fit num_ctx {ctx} with ≈{later} tokens kept for the conversation's {later_turns} later turn(s); left out: {} (a larger --num-ctx keeps more)",
            inline(&step.name),
            inline(&plan.omitted.join(", "))
        ));
    }
    let mut opts = options.clone();
    opts.num_predict = Some(plan.num_predict);
    history.push(Message::new(Role::User, plan.prompt.clone()));
    let chat = step.conversation == Conversation::Continue || step.tool.is_some();
    let request = |history: &[Message]| {
        if chat {
            let mut m = vec![Message::new(Role::System, plan.system.clone())];
            m.extend_from_slice(history);
            GenRequest::chat(&spec.model, m, opts.clone())
        } else {
            GenRequest::generate(&spec.model, Some(&plan.system), &plan.prompt, opts.clone())
        }
    };
    let id = |s: &str| format!("{}-{turn}-{s}", step.name);
    let mut calls = Vec::new();
    wait_until(ready_at).await;
    let t = Instant::now();
    if let (Some(tool), Some(scripted)) = (&step.tool, scripted) {
        let mut used = ToolUse { native: false, ..Default::default() };
        let mut call_msg = ToolCallMsg {
            id: id("call"),
            name: scripted.name.clone(),
            arguments: serde_json::to_value(&scripted.args).unwrap_or_default(),
        };
        let mut assistant_text = String::new();
        if tool.mode == ToolMode::Native {
            let mut req = request(history);
            req.tools = tools::definitions();
            let res = call(run, st, stage, &plan, req).await;
            // `call` keeps every record, a failed one too: it is the last.
            calls.push(st.out.calls.len() - 1);
            if let Err(f) = res {
                close_step(st, calls, 0, t);
                return Err(f);
            }
            let rec = st.out.calls.last().expect("recorded above");
            match native_call(&rec.tool_calls) {
                Ok((c, msg)) => {
                    used.native = true;
                    assistant_text = rec.text.clone();
                    call_msg = msg;
                    used.name = c.name;
                    used.args = c.args;
                }
                Err(why) => {
                    let note = format!(
                        "step '{}' turn {turn}: {why}; the scripted call {}({}) was used instead",
                        step.name,
                        scripted.name,
                        fmt_args(&scripted.args)
                    );
                    st.out.notes.push(note);
                    used.fallback = Some(why);
                }
            }
        }
        if !used.native {
            used.name = scripted.name.clone();
            used.args = scripted.args.clone();
        }
        used.result = match (&scripted_result, used.native) {
            (Some(r), false) => r.clone(),
            _ => tools::run(&ToolCall { name: used.name.clone(), args: used.args.clone() }, &inv.facts),
        };
        let mut assistant = Message::new(Role::Assistant, assistant_text);
        assistant.tool_calls = vec![call_msg.clone()];
        history.push(assistant);
        let mut result = Message::new(Role::Tool, used.result.clone());
        result.tool_name = Some(used.name.clone());
        result.tool_call_id = Some(call_msg.id.clone());
        history.push(result);
        st.out.steps.last_mut().expect("pushed above").tool = Some(used);
    }
    let req = request(history);
    let messages = if chat { req.messages().len() } else { 2 };
    let res = call(run, st, stage, &plan, req).await;
    calls.push(st.out.calls.len() - 1);
    close_step(st, calls, messages, t);
    let k = res?;
    let text = st.out.calls[k].text.clone();
    let output = format!("{}{}", plan.primer, text);
    history.push(Message::new(Role::Assistant, output.clone()));
    st.generated.push(text);
    st.out.model_text = output.clone();
    if st.out.analysis.is_none() {
        st.out.analysis = Some(analysis::parse(&output));
    }
    Ok(output)
}

/// Fill in the current step record: its calls, messages sent, and wall time since `t`.
fn close_step(st: &mut State, calls: Vec<usize>, messages: usize, t: Instant) {
    let rec = st.out.steps.last_mut().expect("the turn pushed its record");
    rec.calls = calls;
    rec.messages = messages;
    rec.wall_ms = t.elapsed().as_secs_f64() * 1000.0;
}

/// Wait until `deadline`: tokio's timer (1 ms ticks; it wakes a millisecond or two late) for all
/// but the last 2 ms, then a blocking thread's sleep (the OS timer, far finer) for the rest, so a
/// think time is kept to well under the 2 ms the issue allows.
async fn wait_until(deadline: Instant) {
    if let Some(coarse) = deadline.checked_sub(Duration::from_millis(2)) {
        if coarse > Instant::now() {
            tokio::time::sleep_until(coarse.into()).await;
        }
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if !rest.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
    }
}

/// The model's first tool call when it is valid, as a checked call and the message to send
/// back; else why not.
fn native_call(calls: &[ToolCallMsg]) -> Result<(ToolCall, ToolCallMsg), String> {
    let Some(c) = calls.first() else {
        return Err("the model's reply had no tool call".into());
    };
    let call = tools::call_from_json(&c.name, &c.arguments);
    tools::check(&call).map_err(|e| format!("the model's tool call was not valid ({e})"))?;
    Ok((call, c.clone()))
}

fn fmt_args(args: &crate::workflow::ToolArgs) -> String {
    args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_fence_inserted_text_and_split_at_data() {
        let v = Vars { previous: Some("p ``` x"), handoff: None, tool: Some("r"), turn: 2, label: "A\nB" };
        let (a, b) = render("{label} turn {turn}\n{previous}{data}after {tool}", &v);
        let v2 = Vars { previous: Some("{turn}{data}"), ..v };
        assert_eq!(render("{previous}", &v2).0, "```text\n{turn}{data}\n```\n");
        assert_eq!(a, "A B turn 2\n````text\np ``` x\n````\n");
        assert_eq!(b.as_deref(), Some("after ```text\nr\n```\n"));
        assert_eq!(render("no data", &v), ("no data".to_string(), None));
    }

    #[test]
    fn native_calls_are_checked() {
        let ok =
            ToolCallMsg { id: "c1".into(), name: "list_metrics".into(), arguments: serde_json::json!({}) };
        assert_eq!(native_call(std::slice::from_ref(&ok)).unwrap().1.id, "c1");
        assert!(native_call(&[]).unwrap_err().contains("no tool call"));
        let bad = ToolCallMsg { name: "lookup_metric".into(), ..ok };
        assert!(native_call(&[bad]).unwrap_err().contains("needs the argument 'metric'"));
    }
}
