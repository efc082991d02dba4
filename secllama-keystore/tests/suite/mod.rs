mod common;
mod crash;
mod keyutils;
mod no_disk;
mod secret_service;
mod storm;
