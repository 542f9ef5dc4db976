mod closure;
mod walking_skeleton;
