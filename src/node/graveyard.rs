//! Freeing a big batch (a few allocations per message, made on the runtime's threads) costs
//! Node's thread ~20 % of its time at high rates, and delays the handlers: big batches are handed
//! to a thread of their own to be dropped there. Small ones are dropped in place (measured: also
//! handing over batches of 8 and more, held and sent 64 deliveries at a time, cost more on 2 cores
//! than it saved, the freeing thread then competing with Node's for a core).

use std::sync::mpsc::{self, Sender};
use std::sync::OnceLock;

use crate::model::Delivery;

/// Batches with fewer deliveries than this are dropped in place.
const MIN_DELIVERIES: usize = 32;

fn sender() -> Option<&'static Sender<Vec<Delivery>>> {
    static TX: OnceLock<Option<Sender<Vec<Delivery>>>> = OnceLock::new();
    TX.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Vec<Delivery>>();
        std::thread::Builder::new()
            .name("aliyun-iot-amqp-free".into())
            .spawn(move || {
                for batch in rx {
                    drop(batch)
                }
            })
            .ok()
            .map(|_| tx)
    })
    .as_ref()
}

pub fn bury(batch: Vec<Delivery>) {
    if batch.len() >= MIN_DELIVERIES {
        if let Some(tx) = sender() {
            // A failed send hands the batch back: it is then dropped here.
            let _ = tx.send(batch);
            return;
        }
    }
    drop(batch);
}
