//! `--chimera-*` and `--chimera2-*` option flags of `chimera multi`: the same typed options as
//! the shared `OptionArgs`, under a prefix, validated into `GenOptions` (errors name the flag).

use chimera_core::options::GenOptions;

macro_rules! prefixed_options {
    ($name:ident, $p:literal, $heading:literal) => {
        #[doc = concat!("Generation options under `--", $p, "-*`.")]
        #[derive(clap::Args, Clone, Debug, Default)]
        #[command(next_help_heading = $heading)]
        pub struct $name {
            /// Layers to offload to the GPU (-1 auto).
            #[arg(id = concat!($p, "_num_gpu"), long = concat!($p, "-num-gpu"), allow_negative_numbers = true)]
            pub num_gpu: Option<i64>,
            /// Context window in tokens.
            #[arg(id = concat!($p, "_num_ctx"), long = concat!($p, "-num-ctx"))]
            pub num_ctx: Option<u32>,
            /// Prompt-processing batch size.
            #[arg(id = concat!($p, "_num_batch"), long = concat!($p, "-num-batch"))]
            pub num_batch: Option<u32>,
            /// CPU threads.
            #[arg(id = concat!($p, "_num_thread"), long = concat!($p, "-num-thread"))]
            pub num_thread: Option<u32>,
            /// Sampling temperature.
            #[arg(id = concat!($p, "_temperature"), long = concat!($p, "-temperature"))]
            pub temperature: Option<f64>,
            /// Nucleus sampling threshold.
            #[arg(id = concat!($p, "_top_p"), long = concat!($p, "-top-p"))]
            pub top_p: Option<f64>,
            /// Top-k sampling.
            #[arg(id = concat!($p, "_top_k"), long = concat!($p, "-top-k"))]
            pub top_k: Option<u32>,
            /// Min-p sampling.
            #[arg(id = concat!($p, "_min_p"), long = concat!($p, "-min-p"))]
            pub min_p: Option<f64>,
            /// Repetition penalty.
            #[arg(id = concat!($p, "_repeat_penalty"), long = concat!($p, "-repeat-penalty"))]
            pub repeat_penalty: Option<f64>,
            /// Tokens looked back for the repetition penalty.
            #[arg(id = concat!($p, "_repeat_last_n"), long = concat!($p, "-repeat-last-n"), allow_negative_numbers = true)]
            pub repeat_last_n: Option<i64>,
            /// Random seed.
            #[arg(id = concat!($p, "_seed"), long = concat!($p, "-seed"), allow_negative_numbers = true)]
            pub seed: Option<i64>,
            /// Maximum tokens to generate per call.
            #[arg(id = concat!($p, "_num_predict"), long = concat!($p, "-num-predict"), allow_negative_numbers = true)]
            pub num_predict: Option<i64>,
            /// Stop sequence (repeatable).
            #[arg(id = concat!($p, "_stop"), long = concat!($p, "-stop"))]
            pub stop: Vec<String>,
        }

        impl $name {
            /// The typed options, validated; the error names the flag.
            pub fn to_options(&self) -> anyhow::Result<GenOptions> {
                let o = GenOptions {
                    num_gpu: self.num_gpu,
                    num_ctx: self.num_ctx,
                    num_batch: self.num_batch,
                    num_thread: self.num_thread,
                    temperature: self.temperature,
                    top_p: self.top_p,
                    top_k: self.top_k,
                    min_p: self.min_p,
                    repeat_penalty: self.repeat_penalty,
                    repeat_last_n: self.repeat_last_n,
                    seed: self.seed,
                    num_predict: self.num_predict,
                    stop: self.stop.clone(),
                };
                o.validate()
                    .map_err(|e| anyhow::anyhow!("--{}-{}: {e}", $p, e.name.replace('_', "-")))?;
                Ok(o)
            }
        }
    };
}

prefixed_options!(ChimeraArgs, "chimera", "Chimera options (--chimera-*: the tuned agent(s))");
prefixed_options!(
    Chimera2Args,
    "chimera2",
    "Second chimera options (--chimera2-*: agent B in chimera_hetero)"
);

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser, Debug)]
    struct T {
        #[command(flatten)]
        a: ChimeraArgs,
        #[command(flatten)]
        b: Chimera2Args,
    }

    #[test]
    fn prefixed_flags_parse_and_validate() {
        let t = T::try_parse_from([
            "t",
            "--chimera-num-gpu",
            "80",
            "--chimera-num-ctx",
            "512",
            "--chimera-temperature",
            "0.8",
            "--chimera2-num-ctx",
            "1024",
            "--chimera2-seed",
            "-1",
        ])
        .unwrap();
        let a = t.a.to_options().unwrap();
        assert_eq!((a.num_gpu, a.num_ctx, a.temperature), (Some(80), Some(512), Some(0.8)));
        let b = t.b.to_options().unwrap();
        assert_eq!((b.num_ctx, b.seed, b.num_gpu), (Some(1024), Some(-1), None));
        let bad = T::try_parse_from(["t", "--chimera2-top-p", "2"]).unwrap();
        let e = bad.b.to_options().unwrap_err().to_string();
        assert!(e.starts_with("--chimera2-top-p:"), "{e}");
    }
}
