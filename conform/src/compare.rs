//! Step-by-step comparison of two runs of one scenario.

use std::fmt;

use crate::observe::{Outcome, Ret, SigClass, outcome_text};
use crate::runner::StepRecord;
use crate::scenario::{Cmp, Scenario};

/// The first place where the real kernel and the model disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// Index of the step (0-based).
    pub step: usize,
    /// The step's text.
    pub line: String,
    /// What differs: `result`, `file a`, `position of slot 0`.
    pub what: String,
    pub real: String,
    pub sim: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} `{}`: {} differs: kernel {} / model {}",
            self.step + 1,
            self.line,
            self.what,
            self.real,
            self.sim
        )
    }
}

fn errno_class(o: &Outcome) -> Outcome {
    match o {
        Ok(_) => Ok(crate::observe::Ret::Ok),
        Err(e) => Err(*e),
    }
}

/// Compares two records of `sc` (real first); `None` when they agree everywhere.
pub fn compare(sc: &Scenario, real: &[StepRecord], sim: &[StepRecord]) -> Option<Divergence> {
    for (i, ((line, r), s)) in sc.lines.iter().zip(real).zip(sim).enumerate() {
        let div = |what: String, real: String, sim: String| Divergence {
            step: i,
            line: line.step.to_string(),
            what,
            real,
            sim,
        };
        let (ro, so) = match line.cmp {
            Cmp::Exact => (r.outcome.clone(), s.outcome.clone()),
            Cmp::ErrnoOnly => (errno_class(&r.outcome), errno_class(&s.outcome)),
        };
        let signalled = match (&ro, &so) {
            (
                Ok(Ret::Signalled {
                    class: rc,
                    prefix: rp,
                    total: rt,
                }),
                Ok(Ret::Signalled {
                    class: sc,
                    prefix: sp,
                    total: st,
                }),
            ) => Some(*rp && *sp && rt == st && SigClass::agrees(*rc, *sc)),
            _ => None,
        };
        if signalled == Some(false) || (signalled.is_none() && ro != so) {
            return Some(div(
                "result".into(),
                outcome_text(&r.outcome),
                outcome_text(&s.outcome),
            ));
        }
        if line.cmp == Cmp::ErrnoOnly {
            continue;
        }
        if let (Some(rs), Some(ss)) = (&r.snap, &s.snap) {
            for ((name, rf), (_, sf)) in rs.files.iter().zip(&ss.files) {
                if rf != sf {
                    return Some(div(format!("file {name}"), rf.to_string(), sf.to_string()));
                }
            }
            if rs.positions != ss.positions {
                for ((slot, rp), (_, sp)) in rs.positions.iter().zip(&ss.positions) {
                    if rp != sp {
                        let t = |p: &Result<i64, vfs::Errno>| match p {
                            Ok(v) => v.to_string(),
                            Err(e) => format!("{e:?}"),
                        };
                        return Some(div(format!("position of slot {slot}"), t(rp), t(sp)));
                    }
                }
                return Some(div(
                    "open slots".into(),
                    format!("{:?}", rs.positions),
                    format!("{:?}", ss.positions),
                ));
            }
        }
    }
    None
}
