"""What each built-in measure of ``evoface illuminate`` means, in words for its --help (a module without imports,
so that ``evoface --help`` stays fast)."""

# what the first components of the shipped face space carry, from -2.5 to +2.5 real faces' stds (mean face +- each)
FACE_SPACE_AXES = {
    0: "lightness: light, washed-out images (-) to dark skin and background (+)",
    1: "framing: a bright face filling the frame, dark at its edges (-) to a face framed by dark hair on a light "
       "background (+)",
    2: "side light: the image's left half dark (-) to its right half dark (+)",
    3: "top and bottom: dark clothes and chin (-) to a light lower half under dark hair (+)",
    4: "skin: pale skin against grey (-) to darker, warmer skin (+)",
    5: "pose and light: face turned or lit from one side (-) to the other (+)",
    6: "colour cast: warm orange (-) to cool blue (+)",
}
MEASURE_HELP = ("face-space:I (the I-th principal component of real faces, in their stds; in the shipped face space "
                + "; ".join(f"{i}: {text}" for i, text in FACE_SPACE_AXES.items())
                + "), luminance (mean luma of the face region, the central half of the crop: 0 black, 1 white), hue "
                  "(of the face region's mean colour, degrees: 0 red, +60 yellow, negative magenta), latent:I (the "
                  "I-th number of the decoder's code; latent genome only). Two, one or three, comma-separated")
