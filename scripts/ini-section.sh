# Sourced by scripts/demo-db.sh and scripts/pg-demo.sh (not run on its own).
#
# put_section TAG FILE NAME BODY: replace section [NAME] of the ini FILE by
# BODY (or add it), keeping every other section, and say on stdout, with
# "TAG: " in front, whether FILE was created, updated or kept.
put_section() {
    local tag=$1 file=$2 name=$3 body=$4 new
    new=$(mktemp "$file.XXXXXX")
    if [ -e "$file" ]; then
        # Drop the section and trailing blank lines; keep everything else.
        awk -v name="[$name]" '
            /^[ \t]*\[/ { h = $0; gsub(/^[ \t]+|[ \t]+$/, "", h); skip = (h == name) }
            skip { next }
            /^[ \t]*$/ { blank++; next }
            { while (blank > 0) { print ""; blank-- } print }' "$file" >"$new"
        if [ -s "$new" ]; then echo >>"$new"; fi
    fi
    printf '[%s]\n%s\n' "$name" "$body" >>"$new"
    chmod 0644 "$new"
    if [ -e "$file" ] && cmp -s "$new" "$file"; then
        rm -f "$new"
        echo "$tag: kept $file [$name] (unchanged)"
    else
        local verb=created
        [ -e "$file" ] && verb=updated
        mv "$new" "$file"
        echo "$tag: $verb $file [$name]"
    fi
}
