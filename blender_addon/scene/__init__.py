"""The bpy layer: spec -> objects (build), plan -> transforms (apply), and rendering (render).

Only the data API is used per sample; the one operator is the render call itself.
"""
