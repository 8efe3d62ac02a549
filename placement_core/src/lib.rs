//! FT-pair VM placement core: places a primary and a secondary VM on different hosts under the rules of
//! `docs/placement-semantics.md`, and holds reservations. Pure Rust; Python bindings behind the `python` feature.

pub mod engine;
pub mod inventory;
pub mod model;
pub mod rules;
pub mod search;

#[cfg(feature = "python")]
mod python;

pub use engine::{Engine, Usage};
pub use model::{
    uuid_order_key, Config, HostSpec, Phase, Placement, PlacementError, Request, Rule, RuleCounts, StorageKind,
    StorageSpec, Strategy,
};
