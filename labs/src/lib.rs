//! Real Bulkhead labs on Docker (bollard): lab images made from an embedded or freshly built `labd`,
//! lab lifecycle (up, down, reaper), telemetry turned into observations, and mitigations
//! confirmed against the real state. `DockerLab` implements the engine's `Lab` trait.

pub mod audit;
pub mod docker;
pub mod docker_lab;
pub mod doctor;
pub mod drive;
pub mod embedded;
pub mod error;
pub mod image;
pub mod lab_down;
pub mod lab_up;
pub mod labels;
pub mod layers;
pub mod movement;
pub mod reaper;
pub mod shield;
pub mod spec;
pub mod subnets;
pub mod swarm;
pub mod telemetry;
pub mod tunnel;

pub use error::LabError;
pub use spec::{ContainerInfo, Credentials, LabOptions, Placement, RunningLab};
