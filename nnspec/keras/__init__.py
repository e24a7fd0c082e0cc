"""The only package that imports Keras / TensorFlow. Nothing on the validate
path imports it (tests/test_light.py proves it)."""
