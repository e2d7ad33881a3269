use super::*;

#[test]
fn splits_documents_at_markers() {
    let text = "a: 1\n---\nb: 2\n--- # c\nc: 3\n...\n";
    let docs = yaml_documents(text);
    let bodies: Vec<_> = docs.iter().map(|(_, d)| d.trim()).collect();
    assert_eq!(bodies, vec!["a: 1", "b: 2", "# c\nc: 3"]);
    assert_eq!(
        docs.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        vec![1, 2, 4]
    );
}

fn at() -> Location {
    Location {
        origin: "t".into(),
        document: 1,
        item: None,
    }
}

#[test]
fn splits_block_lists_into_items() {
    let doc = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n# note\n- apiVersion: v1\n  kind: Namespace\n  data: |\n    - not an item\n  metadata: {name: b}\nmetadata:\n  resourceVersion: \"\"\n";
    let items = list_items(doc, &at(), 1).expect("a block List splits");
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].first_line, 4);
    assert_eq!(items[1].first_line, 8);
    assert!(
        items[1].text.contains("- not an item"),
        "block scalar stays in its item"
    );
    assert!(
        !items[1].text.contains("resourceVersion"),
        "trailing keys are not an item"
    );
    assert_eq!(items[1].at.item, Some(1));
}

#[test]
fn non_lists_and_flow_lists_are_parsed_whole() {
    let cases = [
        "kind: Pod\nitems:\n- a\n",
        "apiVersion: v1\nkind: List\nitems: [{kind: Namespace}]\n",
        "apiVersion: v1\nkind: List\nitems: []\n",
    ];
    for doc in cases {
        assert!(list_items(doc, &at(), 1).is_none(), "{doc:?}");
    }
}

#[test]
fn split_and_whole_parsing_agree() {
    let doc = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Namespace\n  metadata: {name: a}\n- apiVersion: v1\n  kind: Namespace\n  metadata:\n    name: b\n    labels: {x: \"1\"}\nmetadata: {resourceVersion: \"\"}\n";
    let names = |objs: Vec<Object>| -> Vec<String> {
        objs.into_iter()
            .map(|o| match o {
                Object::Namespace(ns) => ns.metadata.name.unwrap_or_default(),
                _ => String::from("?"),
            })
            .collect()
    };
    let split = names(parse_text(doc, "t", None).expect("split parse"));
    let value = parse_yaml(doc, &at(), 1).expect("whole parse");
    let whole = names(objects_of_value(value, &at(), None).expect("whole objects"));
    assert_eq!(split, vec!["a", "b"]);
    assert_eq!(split, whole);
}

#[test]
fn parallel_map_keeps_order() {
    let out = parallel_map((0..1000).collect(), |i: i32| i * 2);
    assert_eq!(out, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
}
