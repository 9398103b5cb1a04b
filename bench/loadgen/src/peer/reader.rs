//! The reading half: the client's flows (credit and window for the writer), dispositions (counted
//! by range, each delivery once) and goodbyes (answered through the writer), until it leaves.

use super::input::read_more;
use super::Shared;
use crate::*;
use fe2o3_amqp::types::performatives::Disposition;

/// Reads flows, dispositions and goodbyes until the client leaves.
pub(super) async fn reader<R: AsyncRead + Unpin>(
    mut rd: R,
    mut buf: BytesMut,
    sh: Rc<Shared>,
    count: u64,
) {
    let result: Res<()> = async {
        loop {
            while let Some(frame) = codec::take_frame(&mut buf, MAX_FRAME).map_err(err("frame"))? {
                match codec::decode_amqp(frame).map_err(err("decode"))? {
                    Incoming::Empty => {}
                    Incoming::Flow(f) => {
                        sh.flow_frames.set(sh.flow_frames.get() + 1);
                        let next_in = f.next_incoming_id.unwrap_or(0);
                        sh.session_limit
                            .set(next_in.wrapping_add(f.incoming_window));
                        if f.handle.is_some() {
                            if let Some(credit) = f.link_credit {
                                let count = f.delivery_count.unwrap_or(0);
                                sh.credit_limit.set(count.wrapping_add(credit));
                            }
                        }
                        if f.echo {
                            // Not needed by the consumers under test; answer with the session state.
                            let reply = Flow {
                                next_incoming_id: None,
                                incoming_window: i32::MAX as u32,
                                next_outgoing_id: 0,
                                outgoing_window: i32::MAX as u32,
                                handle: None,
                                delivery_count: None,
                                link_credit: None,
                                available: None,
                                drain: false,
                                echo: false,
                                properties: None,
                            };
                            let mut c = sh.control.borrow_mut();
                            codec::encode_amqp(&mut c, OUR_CHANNEL, &reply)
                                .map_err(err("encode"))?;
                        }
                        sh.wake.notify_one();
                    }
                    Incoming::Disposition(d) => settle(&sh, &d, count),
                    Incoming::Detach(_) => {
                        let reply = Detach {
                            handle: Handle(OUR_HANDLE),
                            closed: true,
                            error: None,
                        };
                        let mut c = sh.control.borrow_mut();
                        codec::encode_amqp(&mut c, OUR_CHANNEL, &reply).map_err(err("encode"))?;
                        drop(c);
                        sh.wake.notify_one();
                    }
                    Incoming::End(_) => {
                        let mut c = sh.control.borrow_mut();
                        codec::encode_amqp(&mut c, OUR_CHANNEL, &End { error: None })
                            .map_err(err("encode"))?;
                        drop(c);
                        sh.wake.notify_one();
                    }
                    Incoming::Close(_) => {
                        let mut c = sh.control.borrow_mut();
                        codec::encode_amqp(&mut c, 0, &Close { error: None })
                            .map_err(err("encode"))?;
                        drop(c);
                        sh.finished.set(true);
                        sh.wake.notify_one();
                        return Ok(());
                    }
                    other => return Err(format!("unexpected {} frame", other.name())),
                }
            }
            read_more(&mut rd, &mut buf).await?;
        }
    }
    .await;
    if let Err(e) = result {
        if !sh.finished.get() {
            *sh.error.borrow_mut() = Some(e);
        }
    }
    sh.finished.set(true);
    sh.wake.notify_one();
}

/// A receiver's disposition: counts the deliveries it names (duplicates included) and, through the
/// bitmap, those settled for the first time, by outcome; notes when all `count` are settled.
fn settle(sh: &Shared, d: &Disposition, count: u64) {
    if d.role != Role::Receiver {
        return;
    }
    let now = mono_ns();
    if sh.disposition_frames.get() == 0 {
        sh.first_disposition_ns.set(now);
    }
    sh.disposition_frames.set(sh.disposition_frames.get() + 1);
    let last = d.last.unwrap_or(d.first);
    let n = last.wrapping_sub(d.first) as u64 + 1;
    sh.settled_total.set(sh.settled_total.get() + n);
    let accepted = matches!(d.state, Some(DeliveryState::Accepted(_)));
    let mut fresh = 0u64;
    {
        let mut bits = sh.settled_bits.borrow_mut();
        let mut id = d.first;
        loop {
            let i = id as usize;
            if i / 64 < bits.len() && bits[i / 64] & (1 << (i % 64)) == 0 {
                bits[i / 64] |= 1 << (i % 64);
                fresh += 1;
            }
            if id == last {
                break;
            }
            id = id.wrapping_add(1);
        }
    }
    sh.settled_unique.set(sh.settled_unique.get() + fresh);
    if accepted {
        sh.accepted.set(sh.accepted.get() + fresh);
    } else {
        sh.other_outcomes.set(sh.other_outcomes.get() + fresh);
    }
    if sh.all_settled_ns.get() == 0 && sh.settled_unique.get() >= count {
        sh.all_settled_ns.set(now);
    }
}
