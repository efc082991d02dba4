mod enforce_self;
mod filesystem;
mod helpers;
mod limits;
mod network;
mod privileges;
mod strictness;
