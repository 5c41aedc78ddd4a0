//! Recipes built from the library's pieces: the paper reproduction.

pub mod paper;
pub mod reproduce;
