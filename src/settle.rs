//! Settlement: the outcomes a consumer can give a delivery, and their coalescing into as few
//! disposition frames as possible (consecutive ids with the same outcome share one ranged frame).

use fe2o3_amqp::types::definitions::{self, ErrorCondition, Role};
use fe2o3_amqp::types::messaging::{Accepted, DeliveryState, Modified, Rejected, Released};
use fe2o3_amqp::types::performatives::Disposition;
use fe2o3_amqp::types::primitives::{OrderedMap, Symbol, Value};

/// A scalar usable in a `modified` outcome's message annotations.
#[derive(Debug, Clone, PartialEq)]
pub enum Annotation {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    String(String),
}

/// What the consumer decided about a delivery.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Accepted,
    Released,
    Rejected {
        condition: String,
        description: Option<String>,
    },
    Modified {
        delivery_failed: bool,
        undeliverable_here: bool,
        message_annotations: Vec<(String, Annotation)>,
    },
}

impl Outcome {
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Accepted => "accepted",
            Outcome::Released => "released",
            Outcome::Rejected { .. } => "rejected",
            Outcome::Modified { .. } => "modified",
        }
    }

    /// The delivery state sent on the wire.
    pub fn to_state(&self) -> DeliveryState {
        match self {
            Outcome::Accepted => DeliveryState::Accepted(Accepted {}),
            Outcome::Released => DeliveryState::Released(Released {}),
            Outcome::Rejected {
                condition,
                description,
            } => DeliveryState::Rejected(Rejected {
                error: Some(definitions::Error {
                    condition: ErrorCondition::Custom(Symbol::from(condition.as_str())),
                    description: description.clone(),
                    info: None,
                }),
            }),
            Outcome::Modified {
                delivery_failed,
                undeliverable_here,
                message_annotations,
            } => {
                let annotations = (!message_annotations.is_empty()).then(|| {
                    let mut map = OrderedMap::new();
                    for (k, v) in message_annotations {
                        let value = match v {
                            Annotation::Null => Value::Null,
                            Annotation::Bool(b) => Value::Bool(*b),
                            Annotation::Long(n) => Value::Long(*n),
                            Annotation::Double(n) => Value::Double((*n).into()),
                            Annotation::String(s) => Value::String(s.clone()),
                        };
                        map.insert(Symbol::from(k.as_str()), value);
                    }
                    map
                });
                DeliveryState::Modified(Modified {
                    delivery_failed: Some(*delivery_failed),
                    undeliverable_here: Some(*undeliverable_here),
                    message_annotations: annotations,
                })
            }
        }
    }
}

/// Turns settlements into settled dispositions: sorted by id, consecutive ids with equal outcomes
/// merged into one `first..=last` range. Ids never wrap inside a range.
pub fn coalesce(mut settles: Vec<(u32, Outcome)>) -> Vec<Disposition> {
    settles.sort_by_key(|(id, _)| *id);
    let mut out: Vec<(u32, u32, Outcome)> = Vec::new();
    for (id, outcome) in settles {
        match out.last_mut() {
            Some((_, last, o)) if *o == outcome && last.checked_add(1) == Some(id) => *last = id,
            Some((_, last, _)) if *last == id => {} // settled twice: the first word stands
            _ => out.push((id, id, outcome)),
        }
    }
    out.into_iter()
        .map(|(first, last, outcome)| Disposition {
            role: Role::Receiver,
            first,
            last: (last != first).then_some(last),
            settled: true,
            state: Some(outcome.to_state()),
            batchable: false,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_only_for_equal_consecutive_outcomes() {
        let d = coalesce(vec![
            (3, Outcome::Accepted),
            (1, Outcome::Accepted),
            (2, Outcome::Accepted),
            (4, Outcome::Released),
            (6, Outcome::Accepted),
            (u32::MAX, Outcome::Accepted),
            (0, Outcome::Accepted),
        ]);
        let ranges: Vec<_> = d.iter().map(|d| (d.first, d.last)).collect();
        assert_eq!(
            ranges,
            vec![(0, Some(3)), (4, None), (6, None), (u32::MAX, None)]
        );
        assert!(d.iter().all(|d| d.settled && d.role == Role::Receiver));
        assert!(matches!(d[1].state, Some(DeliveryState::Released(_))));
    }

    #[test]
    fn rejected_carries_its_error() {
        let d = coalesce(vec![(
            9,
            Outcome::Rejected {
                condition: "amqp:internal-error".into(),
                description: Some("boom".into()),
            },
        )]);
        match &d[0].state {
            Some(DeliveryState::Rejected(r)) => {
                assert_eq!(
                    r.error.as_ref().unwrap().description.as_deref(),
                    Some("boom")
                )
            }
            other => panic!("{other:?}"),
        }
    }
}
