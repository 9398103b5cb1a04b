//! Settlements from JavaScript: the codes of the fast path (`settle`, many at once) and the
//! outcomes with parameters (`settleWith`).

use napi::bindgen_prelude::{Either4, Null};
use napi_derive::napi;

use super::invalid;
use crate::settle::{Annotation, Outcome};

/// The outcome of each delivery in `settle(attach, ids, codes)`.
#[napi]
pub enum SettleCode {
    Accept = 0,
    Release = 1,
}

impl SettleCode {
    /// The outcome for a code from a `Uint8Array`.
    pub fn outcome(code: u8) -> napi::Result<Outcome> {
        match code {
            c if c == SettleCode::Accept as u8 => Ok(Outcome::Accepted),
            c if c == SettleCode::Release as u8 => Ok(Outcome::Released),
            _ => Err(invalid("unknown settlement code")),
        }
    }
}

/// Which outcome `settleWith` sends.
#[napi(string_enum = "lowercase")]
pub enum OutcomeKind {
    Accepted,
    Released,
    Rejected,
    Modified,
}

/// A value of a `modified` outcome's message annotations.
pub type AnnotationValue = Either4<String, f64, bool, Null>;

/// A settlement with parameters (`reject(error)`, `modified(params)`).
#[napi(object, object_to_js = false)]
pub struct NativeOutcome {
    pub kind: OutcomeKind,
    pub condition: Option<String>,
    pub description: Option<String>,
    pub delivery_failed: Option<bool>,
    pub undeliverable_here: Option<bool>,
    /// Keys of `message_annotations`; values in `annotationValues`, in the same order.
    pub annotation_keys: Option<Vec<String>>,
    pub annotation_values: Option<Vec<Either4<String, f64, bool, Null>>>,
}

fn annotation(v: AnnotationValue) -> Annotation {
    match v {
        Either4::A(s) => Annotation::String(s),
        Either4::B(n) if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 => {
            Annotation::Long(n as i64)
        }
        Either4::B(n) => Annotation::Double(n),
        Either4::C(b) => Annotation::Bool(b),
        Either4::D(_) => Annotation::Null,
    }
}

impl From<NativeOutcome> for Outcome {
    fn from(o: NativeOutcome) -> Self {
        match o.kind {
            OutcomeKind::Accepted => Outcome::Accepted,
            OutcomeKind::Released => Outcome::Released,
            OutcomeKind::Rejected => Outcome::Rejected {
                condition: o
                    .condition
                    .unwrap_or_else(|| crate::error::condition::INTERNAL_ERROR.to_string()),
                description: o.description,
            },
            OutcomeKind::Modified => {
                let keys = o.annotation_keys.unwrap_or_default();
                let values = o.annotation_values.unwrap_or_default();
                Outcome::Modified {
                    delivery_failed: o.delivery_failed.unwrap_or(false),
                    undeliverable_here: o.undeliverable_here.unwrap_or(false),
                    message_annotations: keys
                        .into_iter()
                        .zip(values.into_iter().map(annotation))
                        .collect(),
                }
            }
        }
    }
}
