//! One module per target (the original's `connections/ProdDBConnection.py`). Apps import the
//! one they need: `use project_core::db::connections::laptop;`.

pub mod laptop;
pub mod local;
pub mod prod;
