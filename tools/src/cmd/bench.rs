//! `mynah bench MODEL`: how fast the runtime samples, in microseconds per character.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use mynah_format::MappedModel;
use mynah_quant::engine::is_quantized;
use mynah_runtime::{Next, Pcg32, SampleOptions, Temperature};

/// Arguments of `mynah bench`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file (.mynah): INT8 and INT4 are timed on the integer runtime, FLOAT on the
    /// f32 reference.
    pub model: PathBuf,
    /// Characters to generate (after 1000 untimed warm-up characters).
    #[arg(long, default_value_t = 100_000)]
    pub chars: usize,
    /// Seed of the sampler.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Timed runs of `--chars` characters each (the same stream every time); the result is
    /// the fastest, as for the libtorch side of `make bench`: other processes only ever
    /// slow a run down.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
    pub repeat: u32,
}

/// Samples at temperature 1 one character at a time (restarting at `<EOS>`) and prints
/// the best time per character of `--repeat` runs; the last line is
/// `mynah_us_per_char=<µs>`.
pub fn run(args: &Args) -> Result<()> {
    let mapped = MappedModel::open(&args.model)?;
    let model = mapped.model();
    let name = args.model.display().to_string();
    let mut int = None;
    let mut sampler = super::sampler(&model, &mut int, &name)?;
    let engine = super::engine_name(&model);
    let h = model.hyper();
    let opts = SampleOptions::new(Temperature::ONE, &model.vocab(), h.records);
    // A model without <BOS> starts from its first character.
    let prime: String = match model.vocab().bos() {
        Some(_) => String::new(),
        None => model.vocab().chars().take(1).collect(),
    };
    let mut generate = |n: usize| -> Result<u64> {
        // Every run is the same stream: the model's start state and the seed.
        let restart = |s: &mut mynah_quant::sampling::Sampler<'_, '_>| -> Result<()> {
            s.reset();
            s.prime(&prime).with_context(|| name.clone())
        };
        restart(&mut sampler)?;
        let mut rng = Pcg32::new(args.seed);
        let mut check = 0u64;
        for _ in 0..n {
            match sampler.next(&opts, &mut rng)? {
                Next::Char(c) => check = check.wrapping_mul(31).wrapping_add(u64::from(c)),
                Next::Eos => restart(&mut sampler)?,
            }
        }
        Ok(check)
    };
    generate(1000)?;
    let mut runs = Vec::new();
    let mut check = 0;
    for _ in 0..args.repeat {
        let start = Instant::now();
        check = generate(args.chars)?;
        runs.push(start.elapsed().as_secs_f64());
    }
    runs.sort_by(f64::total_cmp);
    let (best, median) = (runs[0], runs[runs.len() / 2]);
    let per_char = |secs: f64| secs * 1e6 / args.chars.max(1) as f64;
    println!(
        "model        {name} ({}, {} {}x{}, vocab {})",
        engine, h.arch, h.num_layers, h.hidden_dim, h.vocab_size
    );
    if is_quantized(&model) {
        println!("kernels      {}", mynah_runtime::kernels::kernel_set());
    }
    println!(
        "chars        {} per run (checksum {check:016x})",
        args.chars
    );
    println!(
        "runs         {}: best {best:.4} s, median {median:.4} s ({:.3} µs/char)",
        args.repeat,
        per_char(median)
    );
    println!("mynah_us_per_char={:.3}", per_char(best));
    Ok(())
}
