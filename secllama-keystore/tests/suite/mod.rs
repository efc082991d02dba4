mod common;
mod crash;
mod keyutils;
mod lock_dir;
mod no_disk;
mod seals;
mod secret_service;
mod storm;
