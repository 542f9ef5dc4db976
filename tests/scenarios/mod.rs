mod protocol;
mod walking_skeleton;
