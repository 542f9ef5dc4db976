mod review;
mod walking_skeleton;
