//! What both sides run: the sizes (full or smoke), the prompts, the texts to embed, the
//! results, and the process counters (CPU time, peak RSS).

use std::time::Duration;

/// The sizes of one bench run.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sizes {
    /// Tokens of the shared prefix in the cold/warm prompt-evaluation rows (at least).
    pub(crate) prefix_tokens: usize,
    /// Tokens generated per stream.
    pub(crate) tokens: u32,
    /// Texts embedded per embed request.
    pub(crate) texts: usize,
    /// Best of this many rounds.
    pub(crate) rounds: usize,
    /// Context per slot, in tokens.
    pub(crate) context: u32,
    /// Slots of the runner (and sequences of the in-process context).
    pub(crate) slots: u32,
    pub(crate) threads: u32,
}

impl Sizes {
    /// The full run, or with `BENCH_SMOKE=1` a tiny one that only checks that everything works.
    pub(crate) fn from_env() -> Self {
        let number = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u32>().ok());
        let smoke = std::env::var("BENCH_SMOKE").is_ok_and(|v| v == "1");
        let mut sizes = if smoke {
            Sizes {
                prefix_tokens: 120,
                tokens: 8,
                texts: 8,
                rounds: 1,
                context: 512,
                slots: 4,
                threads: 2,
            }
        } else {
            Sizes {
                prefix_tokens: 1500,
                tokens: 128,
                texts: 64,
                rounds: 3,
                context: 2048,
                slots: 4,
                threads: 2,
            }
        };
        if let Some(t) = number("BENCH_THREADS") {
            sizes.threads = t.max(1);
        }
        if let Some(t) = number("BENCH_TOKENS") {
            sizes.tokens = t.max(1);
        }
        if let Some(r) = number("BENCH_ROUNDS") {
            sizes.rounds = usize::try_from(r.max(1)).unwrap_or(1);
        }
        sizes
    }
}

/// The stream prompts (long stories, so greedy runs rarely end early); `run` makes each run's
/// prompts differ from the previous run's, so no run reuses another's cache.
pub(crate) fn story_prompts(n: usize, run: usize) -> Vec<String> {
    const STORIES: [&str; 4] = [
        "Write a long story about a dragon who learns to paint. Once upon a time,",
        "Write a long story about a lighthouse keeper and a storm. It was a dark night,",
        "Write a long story about a robot that grows a garden. In a quiet city,",
        "Write a long story about two friends crossing a desert. At dawn,",
    ];
    (0..n)
        .map(|i| format!("Run {run}. {}", STORIES[i % STORIES.len()]))
        .collect()
}

/// A document of at least `tokens` tokens (counted by `count`) that begins with `tag`, so
/// documents with different tags share no prefix.
pub(crate) fn document(tag: usize, tokens: usize, count: impl Fn(&str) -> usize) -> String {
    const ANIMALS: [&str; 6] = ["heron", "otter", "badger", "lynx", "crane", "beaver"];
    const PLACES: [&str; 5] = ["mill", "quay", "orchard", "chapel", "ferry landing"];
    let mut text = format!("Logbook {tag} of the river station.\n");
    let mut line = 0usize;
    while count(&text) < tokens {
        text.push_str(&format!(
            "Entry {line}: at {:02}:{:02} a {} was seen near the {}, water level {} cm, \
             {} boats moored, wind from the {}.\n",
            (line * 7) % 24,
            (line * 13) % 60,
            ANIMALS[line % ANIMALS.len()],
            PLACES[(line / 2) % PLACES.len()],
            120 + (line * 37) % 90,
            line % 9,
            ["north", "east", "south", "west"][line % 4],
        ));
        line += 1;
    }
    text
}

/// The two endings of the prefix rows: the first request asks one question about the
/// document, the next another.
pub(crate) const TAILS: [&str; 2] = [
    "Question: which animal was seen most often? Answer:",
    "Question: when was the water level highest? Answer:",
];

/// Texts to embed, about 25 tokens each, all different.
pub(crate) fn embed_texts(n: usize) -> Vec<String> {
    const COLORS: [&str; 5] = ["red", "green", "grey", "golden", "blue"];
    const THINGS: [&str; 4] = ["kettle", "bicycle", "lantern", "notebook"];
    (0..n)
        .map(|i| {
            format!(
                "Item {i}: a {} {} was left on the bench at the station, and nobody came \
                 back for it before the last train.",
                COLORS[i % COLORS.len()],
                THINGS[(i / 5) % THINGS.len()]
            )
        })
        .collect()
}

/// One prompt evaluation.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PromptEval {
    /// Tokens evaluated (after any reused prefix).
    pub(crate) evaluated: u64,
    /// Time spent evaluating them.
    pub(crate) time: Duration,
}

/// `n` concurrent greedy streams.
#[derive(Clone, Debug, Default)]
pub(crate) struct Streams {
    pub(crate) generated: u64,
    /// From the start of the requests to the end of the last one.
    pub(crate) wall: Duration,
    /// Tokens per second of each stream, from its first token to its last.
    pub(crate) per_stream_tps: Vec<f64>,
    /// Time to the first token of each stream.
    pub(crate) ttft: Vec<Duration>,
    /// CPU time (user + system) the generating process spent.
    pub(crate) cpu: Duration,
}

impl Streams {
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn aggregate_tps(&self) -> f64 {
        self.generated as f64 / self.wall.as_secs_f64().max(1e-9)
    }

    pub(crate) fn mean_stream_tps(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let n = self.per_stream_tps.len().max(1) as f64;
        self.per_stream_tps.iter().sum::<f64>() / n
    }

    pub(crate) fn mean_ttft(&self) -> Duration {
        let n = u32::try_from(self.ttft.len().max(1)).unwrap_or(1);
        self.ttft.iter().sum::<Duration>() / n
    }

    pub(crate) fn max_ttft(&self) -> Duration {
        self.ttft.iter().copied().max().unwrap_or_default()
    }

    /// CPU milliseconds per generated token.
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn cpu_ms_per_token(&self) -> f64 {
        self.cpu.as_secs_f64() * 1e3 / self.generated.max(1) as f64
    }
}

/// One batched embed request.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct EmbedRun {
    pub(crate) texts: usize,
    pub(crate) tokens: u64,
    pub(crate) time: Duration,
}

impl EmbedRun {
    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn texts_per_second(&self) -> f64 {
        self.texts as f64 / self.time.as_secs_f64().max(1e-9)
    }
}

/// A value from `/proc/<pid>/status` in KiB (`VmHWM`, `VmRSS`), 0 if unreadable.
pub(crate) fn status_kib(pid: &str, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

/// User + system CPU time of process `pid` (all its threads) so far.
pub(crate) fn cpu_time(pid: &str) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // The command name may hold spaces: the fields after it start behind the last ')'.
    let Some(rest) = stat.rfind(')').map(|at| &stat[at + 1..]) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let per_second = u64::try_from(per_second).unwrap_or(100).max(1);
    Duration::from_nanos(ticks.saturating_mul(1_000_000_000) / per_second)
}
