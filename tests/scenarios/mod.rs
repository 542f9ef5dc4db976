mod closure;
mod protocol;
mod walking_skeleton;
