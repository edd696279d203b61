//! Prometheus remote write 1.0, out and in. (Module doc to be written with the sender:
//! design, durability, ordering, what is counted.)

pub mod wire;
