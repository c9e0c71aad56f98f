//! Scale-out over Redis (issue #11): the pieces that let many nodes serve as one service.

pub mod forward;
