//! The adapters: each store behind [`Store`](crate::store::Store), in its durable setting
//! for durable workloads.

pub mod fjall_store;
pub mod kanthor;
pub mod redb_store;
pub mod sled_store;
pub mod sqlite;
