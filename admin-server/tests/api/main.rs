//! The admin server over real Postgres (one fresh database per test) and
//! real HTTP (the router bound on 127.0.0.1:0, called with reqwest).

mod arbitrary_parameters;
mod auth;
mod events;
mod fixtures;
mod jwks;
mod openapi;
mod operations;
mod outage;
mod secrets;
mod server;
mod status;
mod task_detail;
mod tasks;
mod trends;
mod ui;
mod verify;
