//! `mynah sample MODEL`: generate text, streaming each character as it is produced.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use mynah_format::MappedModel;
use mynah_quant::sampling::parse_temperature;
use mynah_runtime::{Next, Pcg32, SampleOptions};

/// Arguments of `mynah sample`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The model file (.mynah): INT8 and INT4 run on the integer runtime, FLOAT on the f32
    /// reference.
    pub model: PathBuf,
    /// Sampling temperature: 0 is greedy, 1 the model's own distribution.
    #[arg(long, default_value = "0.8", allow_hyphen_values = true)]
    pub temperature: String,
    /// Text to start from (fed after `<BOS>`, printed before the generated characters). A
    /// model without `<BOS>` (imported from a tutorial) needs at least one character.
    #[arg(long, default_value = "")]
    pub prime: String,
    /// Characters to generate per sample (records models may stop earlier, at `<EOS>`).
    #[arg(long, default_value_t = 500)]
    pub max_len: usize,
    /// Number of samples.
    #[arg(long, default_value_t = 1)]
    pub count: usize,
    /// Seed of the PCG32 generator: the same seed gives the same text on every machine.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Sample only among the K most likely tokens (0: all).
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub top_k: u32,
}

/// Generates `count` samples to stdout, flushing after every character.
pub fn run(args: &Args) -> Result<()> {
    let temperature = parse_temperature(&args.temperature).context("--temperature")?;
    let mapped = MappedModel::open(&args.model)?;
    let model = mapped.model();
    let name = args.model.display().to_string();
    let mut int = None;
    let mut sampler = super::sampler(&model, &mut int, &name)?;
    let records = model.hyper().records;
    let mut opts = SampleOptions::new(temperature, &model.vocab(), records);
    opts.top_k = args.top_k;
    if model.vocab().bos().is_none() && args.prime.is_empty() {
        anyhow::bail!(
            "{name} has no <BOS> token, so it starts from text: give --prime with at least one \
             character"
        );
    }
    let mut rng = Pcg32::new(args.seed);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut buf = [0u8; 4];
    for i in 0..args.count {
        if i > 0 && !records {
            out.write_all(b"----\n")?;
        }
        sampler.reset();
        sampler.prime(&args.prime).context("--prime")?;
        out.write_all(args.prime.as_bytes())?;
        out.flush()?;
        let mut last = args.prime.chars().last();
        for _ in 0..args.max_len {
            match sampler.next(&opts, &mut rng)? {
                Next::Char(c) => {
                    out.write_all(c.encode_utf8(&mut buf).as_bytes())?;
                    out.flush()?;
                    last = Some(c);
                }
                Next::Eos => break,
            }
        }
        if last != Some('\n') {
            out.write_all(b"\n")?;
        }
        out.flush()?;
    }
    Ok(())
}
