//! `redblue reproduce`: builds the configuration from flags, shows progress, prints a summary.

use crate::args::{ArchArg, ReproduceArgs};
use crate::rules::Given;
use crate::{check_data_flags, load_data, progress};
use anyhow::Result;
use redblue::experiments::reproduce::{self, run::Inputs, DataInfo, Event, ReproduceConfig, RunOptions};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYYMMDDTHHMMSSZ` for now, in UTC.
fn utc_stamp() -> String {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// The configuration the flags ask for, on top of `base` (the defaults, `--quick`'s, or on
/// `--resume` the recorded one, so that only flags typed again are compared with it).
fn config(a: &ReproduceArgs, base: Option<ReproduceConfig>) -> redblue::Result<ReproduceConfig> {
    let mut c = match (a.quick, base) {
        (true, _) => ReproduceConfig::quick(),
        (false, Some(b)) => b,
        (false, None) => ReproduceConfig::default(),
    };
    macro_rules! set {
        ($($flag:ident => $field:ident),*) => { $( if let Some(v) = a.$flag { c.$field = v; } )* };
    }
    set!(seeds => seeds, base_seed => base_seed, epochs => epochs, pgd_steps => pgd_steps,
         pgd_restarts => pgd_restarts);
    if a.pgd_subset.is_some() {
        c.pgd_subset = a.pgd_subset;
    }
    if a.curve_subset.is_some() {
        c.curve_subset = a.curve_subset;
    }
    if a.auto_subset.is_some() {
        c.auto_subset = a.auto_subset;
    }
    if a.train_subset.is_some() {
        c.train_subset = a.train_subset;
    }
    if a.test_subset.is_some() {
        c.test_subset = a.test_subset;
    }
    if let Some(arch) = a.arch {
        c.network = network(arch, 28, 28)?;
        if c.network.is_some() && c.verify_subset.is_none() {
            c.verify_subset = Some(NETWORK_VERIFY_SUBSET);
        }
    }
    if a.verify_subset.is_some() {
        c.verify_subset = a.verify_subset;
    }
    Ok(c)
}

/// The certified table's default size for an architecture other than the paper's MLP.
const NETWORK_VERIFY_SUBSET: usize = 200;

/// The built-in `arch` for `rows x cols` images, or `None` for the paper's MLP.
fn network(arch: ArchArg, rows: usize, cols: usize) -> redblue::Result<Option<redblue::model::Arch>> {
    match arch {
        ArchArg::Mlp => Ok(None),
        other => Ok(Some(redblue::model::Arch::builtin(other.name(), [1, rows, cols], 10, &[])?)),
    }
}

/// A subset the user did not type (a default, e.g. `--quick`'s 1000 test images) that is
/// larger than the data is lowered to the data's size, said on stderr, and recorded as such in
/// the run's config; a subset the user typed is checked by the run and refused if it does not
/// fit.
fn fit_defaults(cfg: &mut ReproduceConfig, g: &Given<'_>, train_n: usize, test_n: usize) {
    let fit = |id: &str, v: &mut Option<usize>, n: usize, of: &str| {
        if let Some(k) = v.filter(|&k| k > n && !g.has(id)) {
            eprintln!(
                "note: the default {} {k} is more than the {n} {of}; using {n} (recorded in config.json)",
                crate::rules::flag(id)
            );
            *v = Some(n);
        }
    };
    fit("train_subset", &mut cfg.train_subset, train_n, "training images");
    fit("test_subset", &mut cfg.test_subset, test_n, "test images");
    let eval_n = cfg.test_subset.map_or(test_n, |k| k.min(test_n));
    fit("pgd_subset", &mut cfg.pgd_subset, eval_n, "evaluation images");
    fit("curve_subset", &mut cfg.curve_subset, eval_n, "evaluation images");
    fit("auto_subset", &mut cfg.auto_subset, eval_n, "evaluation images");
    fit("verify_subset", &mut cfg.verify_subset, eval_n, "evaluation images");
}

pub fn cmd_reproduce(a: ReproduceArgs, g: &Given<'_>) -> Result<()> {
    check_data_flags(&a.data, g)?;
    let (out_dir, resume) = match (&a.resume, &a.out) {
        (Some(dir), _) => (dir.clone(), true),
        (None, Some(dir)) => (dir.clone(), false),
        (None, None) => (PathBuf::from("runs").join(format!("reproduce-{}", utc_stamp())), false),
    };
    reproduce::run::check_run_dir(&out_dir, resume)?; // before loading data
    let recorded = if resume { Some(reproduce::run::recorded_config(&out_dir)?) } else { None };
    let mut cfg = config(&a, recorded.clone())?;
    cfg.validate()?;
    let jobs = a.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if jobs == 0 {
        return Err(redblue::Error::param("--jobs", 0, "must be at least 1").into());
        // before loading data
    }
    let d = load_data(&a.data)?;
    if recorded.is_none() {
        fit_defaults(&mut cfg, g, d.train.n, d.test.n);
        if let Some(arch) = a.arch {
            cfg.network = network(arch, d.train.rows, d.train.cols)?;
        }
    }
    let inputs = Inputs {
        train_x: &d.train.images,
        train_y: &d.train.labels,
        test_x: &d.test.images,
        test_y: &d.test.labels,
        dim: d.test.image_len(),
        data: DataInfo {
            dataset: d.dataset.clone(),
            source: d.record.clone(),
            sha256: d.sha256.clone(),
            verified: d.verified,
        },
    };
    let bars = progress::Multi::new();
    let on_event = |e: Event| match e {
        Event::Phase(p) => bars.println(&format!("== {p}")),
        Event::Training { name } => bars.start(&name, cfg.epochs),
        Event::Epoch { name, epoch, .. } => bars.set(&name, epoch),
        Event::ModelDone { name, seconds, reused } => {
            bars.finish(&name);
            if reused {
                bars.println(&format!("   {name}: reused from {}", out_dir.display()));
            } else {
                bars.println(&format!("   {name}: trained and measured in {seconds:.1} s"));
            }
        }
    };
    eprintln!("writing to {} ({jobs} job(s))", redblue::fsutil::show(&out_dir));
    let opts = RunOptions { out_dir: out_dir.clone(), jobs, resume };
    let report = reproduce::run(&cfg, &inputs, &opts, &on_event)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!("{}", crate::render::reproduce_summary(&report));
    println!("report: {}", out_dir.join("report.md").display());
    Ok(())
}
