mod closure;
mod review;
mod walking_skeleton;
